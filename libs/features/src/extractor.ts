import type * as tf from '@tensorflow/tfjs';
import type { ExtractorRecipe, ResizeRecipe } from './metricRecipe.js';

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
  /**
   * How the network itself brings images of any size to its input, when it does (no `inputSize`):
   * recorded in every value's recipe. With `inputSize`, folder features resize (pytorch-bilinear).
   */
  readonly resize?: ResizeRecipe;
  /** The files its weights were read from (hashed into the recipe of the values it produces). */
  readonly weightFiles?: readonly string[];
  /** images: NHWC float32 RGB in [0,1], batch of one size; returns [batch, dims] float32. */
  extract(images: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/** Builds one family's extractor from its parsed recipe (`parseExtractorName`). */
export type ExtractorFactory<F extends ExtractorRecipe['family'] = ExtractorRecipe['family']> = (
  recipe: Extract<ExtractorRecipe, { family: F }>,
  opts: { weights?: string },
) => Promise<FeatureExtractor>;

/** A family of extractors sharing a name prefix ('inception', 'vggface', 'generator', ...). */
export interface ExtractorFamily<F extends ExtractorRecipe['family'] = ExtractorRecipe['family']> {
  prefix: F;
  create: ExtractorFactory<F>;
}
