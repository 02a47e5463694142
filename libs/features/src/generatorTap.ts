// `generator:<checkpoint-dir>:<tap>[:avg]`: a trained fidlab generator's named intermediate
// output as the feature (seed section 4: the U-Net's `out_en7`, the VAE's `mu`).
//
// Preprocessing: RGB in [0,1] -> bilinear resize to the checkpoint's size (halfPixelCenters, i.e.
// PyTorch's align_corners=False) -> grey (ITU-R 601 luma, as PIL's convert('L')) when the
// generator takes one channel -> [-1,1] (x * 2 - 1), the range the generator was trained on.
// Features: the tap's [n, h, w, c] map flattened in NHWC order (h*w*c dims), or with `:avg`
// average-pooled over h and w (c dims, like pytorch-fid pools Inception's smaller taps).
// Taps that are already vectors (the VAE's `mu`) are used as they are.
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { loadCheckpoint } from '@fidlab/training';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';

/** What this extractor needs from @fidlab/models' Generator (see team contract). */
export interface TappableGenerator {
  readonly config: { size: number; inChannels: number };
  readonly tapNames: string[];
  apply(
    x: tf.Tensor4D,
    opts: { training: boolean; taps?: string[] },
  ): { output: tf.Tensor4D; taps: Record<string, tf.Tensor> };
}

export interface GeneratorTapOptions {
  tap: string;
  /** Average-pool spatial maps to one value per channel instead of flattening them. */
  avg?: boolean;
  /** Used in the canonical name; default 'generator'. */
  name?: string;
  /** Called by dispose() (e.g. to free the generator's weights). */
  onDispose?: () => void;
}

const LUMA = [0.299, 0.587, 0.114];

/** [n, h, w, 3] in [0,1] -> the generator's input: [n, size, size, inChannels] in [-1,1]. */
export function generatorInput(images: tf.Tensor4D, size: number, inChannels: number): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] !== 3) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `generator extractor: expected RGB images [n, h, w, 3], got [${images.shape}]`,
      );
    }
    let x = images;
    if (x.shape[1] !== size || x.shape[2] !== size) {
      x = tf.image.resizeBilinear(x, [size, size], false, true);
    }
    if (inChannels === 1) x = tf.sum(tf.mul(x, tf.tensor1d(LUMA)), 3, true) as tf.Tensor4D;
    else if (inChannels !== 3) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `generator extractor: generators with ${inChannels} input channels are not supported (1 or 3)`,
      );
    }
    return tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D;
  });
}

/** Wraps a loaded generator as a feature extractor over one of its taps. */
export function createGeneratorTapExtractor(
  generator: TappableGenerator,
  opts: GeneratorTapOptions,
): FeatureExtractor {
  const { tap } = opts;
  const name = opts.name ?? 'generator';
  if (!generator.tapNames.includes(tap)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `extractor '${name}': unknown tap '${tap}' (this generator has: ${generator.tapNames.join(', ')})`,
    );
  }
  const { size, inChannels } = generator.config;
  const features = (images: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const x = generatorInput(images, size, inChannels);
      const t = generator.apply(x, { training: false, taps: [tap] }).taps[tap];
      if (!t) {
        throw new FidlabError(
          ErrorCode.INVALID_CONFIG,
          `extractor '${name}': the generator returned no tap '${tap}'`,
        );
      }
      const n = t.shape[0];
      if (t.rank === 2) return t as tf.Tensor2D;
      if (opts.avg && t.rank === 4) return tf.mean(t, [1, 2]) as tf.Tensor2D;
      return tf.reshape(t, [n, -1]) as tf.Tensor2D;
    });
  // The width follows from the architecture; one zero image finds it without reading the config.
  const probe = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
  const probed = features(probe);
  const dims = probed.shape[1];
  probe.dispose();
  probed.dispose();
  return {
    name,
    dims,
    inputSize: size,
    extract: features,
    dispose: () => opts.onDispose?.(),
  };
}

type LoadCheckpoint = (dir: string) => Promise<{ generator: TappableGenerator; epoch: number }>;

/**
 * Registry factory for `generator:<checkpoint-dir>:<tap>[:avg]` (taps: en1..en8 for U-Nets, mu
 * for the VAE). The checkpoint is read by @fidlab/training's loadCheckpoint.
 */
export async function generatorTapFactory(
  recipe: { family: 'generator'; checkpoint: string; tap: string; pool: boolean },
  _opts: { weights?: string },
  load?: LoadCheckpoint,
): Promise<FeatureExtractor> {
  const { checkpoint: dir, tap, pool: avg } = recipe;
  const { generator } = await (load ?? loadCheckpoint)(dir);
  const disposable = generator as unknown as { dispose?: () => void };
  try {
    return {
      ...createGeneratorTapExtractor(generator, {
        tap,
        avg,
        name: `generator:${dir}:${tap}${avg ? ':avg' : ''}`,
        onDispose: () => disposable.dispose?.(),
      }),
      weightFiles: [dir],
    };
  } catch (e) {
    disposable.dispose?.(); // an unknown tap must not leak the loaded weights
    throw e;
  }
}

export const generatorFamily: ExtractorFamily<'generator'> = {
  prefix: 'generator',
  create: (recipe, opts) => generatorTapFactory(recipe, opts),
};
