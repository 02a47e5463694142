import * as tf from '@tensorflow/tfjs';
import type { GanMode } from './trialConfig.js';

/**
 * pix2pix's `GANLoss` against a constant target (1 real, 0 fake), averaged over patches:
 * vanilla = BCE with logits, max(x, 0) - x t + log(1 + exp(-|x|)) (the stable form);
 * lsgan = mean squared error.
 */
export function ganLoss(
  logits: tf.Tensor,
  real: boolean,
  mode: Exclude<GanMode, 'none'>,
): tf.Scalar {
  const t = real ? 1 : 0;
  if (mode === 'lsgan') return tf.mean(tf.square(tf.sub(logits, t)));
  return tf.mean(
    tf.add(tf.sub(tf.relu(logits), tf.mul(logits, t)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
  );
}

/** Mean absolute error (PyTorch's L1Loss). */
export const l1Loss = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.mean(tf.abs(tf.sub(a, b)));

/**
 * KL(N(mu, exp(logvar)) || N(0, 1)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)), summed over the
 * latent dimensions and averaged over the batch.
 * Deviation: SPADE's KLDLoss also sums over the batch; the mean keeps the weight independent of
 * the batch size (the same at batch size 1).
 */
export function klLoss(mu: tf.Tensor2D, logvar: tf.Tensor2D): tf.Scalar {
  const perSample = tf.sum(tf.sub(tf.sub(tf.add(1, logvar), tf.square(mu)), tf.exp(logvar)), 1);
  return tf.mul(tf.mean(perSample), -0.5);
}
