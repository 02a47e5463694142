// The built-in extractor families over published PyTorch weights: the name's recipe
// (metricRecipe.ts) picks the tap; the weights are the given file, else the verified download in
// the weights cache. The networks live in @fidlab/models; here each becomes a FeatureExtractor
// at one tap.
import {
  INCEPTION_INPUT_SIZE,
  loadFidInception,
  loadVggFace,
  VGGFACE_INPUT_SIZE,
  VGGFACE_TAPS,
  type FidInception,
  type InceptionDims,
  type VggFace,
  type VggFaceTap,
} from '@fidlab/models';
import { resolveWeights } from '@fidlab/weights';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';

/** A FeatureExtractor over a loaded FID Inception. */
export function inceptionExtractor(net: FidInception, dims: InceptionDims): FeatureExtractor {
  return {
    name: `inception:${dims}`,
    dims,
    inputSize: INCEPTION_INPUT_SIZE,
    extract: (images) => net.features(images, dims),
    dispose: () => net.dispose(),
  };
}

export function vggFaceExtractor(net: VggFace, tap: VggFaceTap): FeatureExtractor {
  return {
    name: `vggface:${tap}`,
    dims: VGGFACE_TAPS[tap],
    inputSize: VGGFACE_INPUT_SIZE,
    extract: (images) => net.features(images, tap),
    dispose: () => net.dispose(),
  };
}

export const inceptionFamily: ExtractorFamily<'inception'> = {
  prefix: 'inception',
  async create(recipe, opts) {
    const file = await resolveWeights('inception', opts.weights);
    const net = await loadFidInception(file);
    return { ...inceptionExtractor(net, recipe.dims), weightFiles: [file] };
  },
};

export const vggFaceFamily: ExtractorFamily<'vggface'> = {
  prefix: 'vggface',
  async create(recipe, opts) {
    const file = await resolveWeights('vggface', opts.weights);
    const net = await loadVggFace(file);
    return { ...vggFaceExtractor(net, recipe.layer), weightFiles: [file] };
  },
};
