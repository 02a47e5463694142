import type * as tf from '@tensorflow/tfjs';
import { createRng, ErrorCode, FidlabError, type Rng } from '@fidlab/base';
import type { ModelConfig } from './modelConfig.js';
import type { ParamSet } from './params.js';

export interface ApplyOptions {
  /** BatchNorm on batch statistics, dropout and VAE sampling on (PyTorch's `train()` mode). */
  training: boolean;
  /** Named intermediate outputs to return (see `tapNames`). */
  taps?: string[];
  /** Dropout masks and VAE noise; default: the generator's own Rng (seeded at creation). */
  rng?: Rng;
  /** Update BatchNorm running statistics (only the training step sets this). */
  updateStats?: boolean;
}

/** A generator network: image in, image out, with named taps for feature extraction. */
export interface Generator {
  readonly config: ModelConfig;
  /** e.g. en1..en8 (U-Nets), en1..en6, mu, logvar (VAE) */
  readonly tapNames: string[];
  readonly params: ParamSet;
  /** x: NHWC float32 in [-1,1]. Returns the image and any requested named intermediate outputs. */
  apply(
    x: tf.Tensor4D,
    opts: ApplyOptions,
  ): { output: tf.Tensor4D; taps: Record<string, tf.Tensor> };
  dispose(): void;
}

/** A conditional discriminator: logits per patch, [n, h', w', 1]. */
export interface Discriminator {
  readonly inChannels: number;
  readonly params: ParamSet;
  apply(x: tf.Tensor4D, opts: { training: boolean; updateStats?: boolean }): tf.Tensor4D;
  dispose(): void;
}

/** Taps requested but unknown: a message listing the known ones. */
export function checkTaps(requested: string[] | undefined, known: string[], model: string): void {
  const bad = (requested ?? []).filter((t) => !known.includes(t));
  if (bad.length > 0) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `unknown tap(s) ${bad.join(', ')} for ${model} (taps: ${known.join(', ')})`,
    );
  }
}

/** The Rng a generator uses when the caller gives none. */
export const defaultRng = (seed: number): Rng => createRng((seed ^ 0x7a9b) >>> 0);
