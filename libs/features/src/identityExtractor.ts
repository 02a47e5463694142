// `identity:<checkpoint-dir>:<layer>`: a checkpoint of the identity trial as a feature extractor.
// Layers: the body's (facerec: `pool` 256-d, `embedding` 128-d; vggface: fc6, relu6, fc7, relu7)
// or `logits` (one score per training identity). Preprocessing is the body's at the checkpoint's
// input size (@fidlab/models' identityBody.ts): facerec pads to a square, resizes and applies
// face-api's mean/scale; vggface resizes to 224 and subtracts the VGG-Face mean from 0-255 pixels.
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { identityBodyFromParams } from '@fidlab/models';
import { loadIdentityCheckpoint } from '@fidlab/training';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';
import type { ResizeRecipe } from './metricRecipe.js';

export async function identityFactory(
  recipe: { family: 'identity'; checkpoint: string; layer: string },
  _opts: { weights?: string },
): Promise<FeatureExtractor> {
  const { checkpoint: dir, layer } = recipe;
  const arg = `${dir}:${layer}`;
  const { manifest, tensors } = await loadIdentityCheckpoint(dir);
  const w = tensors.get('classifier/weight') as tf.Tensor2D | undefined;
  const b = tensors.get('classifier/bias') as tf.Tensor1D | undefined;
  tensors.delete('classifier/weight');
  tensors.delete('classifier/bias');
  const body = identityBodyFromParams(manifest.body, tensors);
  const dispose = () => tf.dispose([...tensors.values(), ...(w ? [w] : []), ...(b ? [b] : [])]);
  const known = [...Object.keys(body.layers), 'logits'];
  if (!known.includes(layer) || (layer === 'logits' && (!w || !b))) {
    dispose();
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `extractor 'identity:${arg}': unknown layer '${layer}' (known: ${known.join(', ')})`,
    );
  }
  return {
    name: `identity:${dir}:${layer}`,
    dims: layer === 'logits' ? manifest.classes.length : body.layers[layer],
    resize: identityBodyResize(body.spec),
    weightFiles: [dir],
    extract: (images) =>
      tf.tidy(() => {
        if (layer !== 'logits') return body.forward(tensors, images, [layer])[layer];
        const f = body.forward(tensors, images, [body.featureLayer])[body.featureLayer];
        return tf.add(tf.matMul(f, w as tf.Tensor2D), b as tf.Tensor1D) as tf.Tensor2D;
      }),
    dispose,
  };
}

/**
 * How an identity body brings images to its input (facerec: face-api's pad-to-square and
 * bilinear resize; vggface: bilinear with half-pixel centres).
 */
export function identityBodyResize(spec: {
  kind: 'facerec' | 'vggface';
  inputSize: number;
}): ResizeRecipe {
  return {
    mode: spec.kind === 'facerec' ? 'pad-square-bilinear' : 'bilinear-half-pixel',
    size: spec.inputSize,
  };
}

export const identityFamily: ExtractorFamily<'identity'> = {
  prefix: 'identity',
  create: identityFactory,
};
