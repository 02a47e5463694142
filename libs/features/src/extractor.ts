import type * as tf from '@tensorflow/tfjs';

/** A network that turns a batch of images into one feature row per image. */
export interface FeatureExtractor {
  /** Canonical name, e.g. 'inception:2048', 'vggface:fc6'. */
  readonly name: string;
  readonly dims: number;
  /**
   * The square input size the network resizes to (299 for inception), so that callers with
   * images of different sizes can resize each one first; absent when the extractor takes any size.
   */
  readonly inputSize?: number;
  /** images: NHWC float32 RGB in [0,1], batch of one size; returns [batch, dims] float32. */
  extract(images: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/** Builds one family's extractor; `arg` is the part of the name after the first ':'. */
export type ExtractorFactory = (
  arg: string | undefined,
  opts: { weights?: string },
) => Promise<FeatureExtractor>;

/** A family of extractors sharing a name prefix ('inception', 'vggface', 'generator', ...). */
export interface ExtractorFamily {
  prefix: string;
  /** The names listed by `knownExtractors()` and in the unknown-name error. */
  names: string[];
  create: ExtractorFactory;
}
