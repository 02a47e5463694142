import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@fidlab/base';
import type { ParamBuilder } from './params.js';

/** What a forward pass needs besides the input. */
export interface ForwardContext {
  /** BatchNorm on batch statistics and dropout on (PyTorch's `train()` mode). */
  training: boolean;
  /** Fold this batch's statistics into the BatchNorm running averages (training steps only). */
  updateStats: boolean;
  /** Source of dropout masks and VAE noise; the same Rng state gives the same masks. */
  rng: Rng;
}

export type Layer = (x: tf.Tensor4D, ctx: ForwardContext) => tf.Tensor4D;

/** PyTorch's BatchNorm2d defaults. */
export const BN_EPS = 1e-5; // added to the variance before the square root
export const BN_MOMENTUM = 0.1; // running = (1 - m) * running + m * batch
export const LEAKY_SLOPE = 0.2;
export const INIT_STD = 0.02;

/**
 * Conv2d, kernel k, stride s, symmetric zero padding `pad` (PyTorch's `padding=`). Filter HWIO.
 * Bias only where no BatchNorm follows (pix2pix: `use_bias = norm_layer == InstanceNorm2d`).
 */
export function conv2d(
  b: ParamBuilder,
  name: string,
  cin: number,
  cout: number,
  o: { k: number; stride: number; pad: number; bias: boolean },
): Layer {
  const w = b.gaussian(`${name}.weight`, [o.k, o.k, cin, cout], 0, INIT_STD);
  const bias = o.bias ? b.constant(`${name}.bias`, [cout], 0) : null;
  return (x) => {
    const y = tf.conv2d(x, w as tf.Tensor4D, o.stride, o.pad);
    return bias ? tf.add(y, bias) : y;
  };
}

/**
 * ConvTranspose2d k4 s2 p1: doubles height and width exactly. tfjs's 'same' padding for k4 s2 is
 * one pixel each side, the same as PyTorch's padding=1. Filter [k, k, out, in].
 */
export function convTranspose2d(
  b: ParamBuilder,
  name: string,
  cin: number,
  cout: number,
  o: { bias: boolean },
): Layer {
  const w = b.gaussian(`${name}.weight`, [4, 4, cout, cin], 0, INIT_STD);
  const bias = o.bias ? b.constant(`${name}.bias`, [cout], 0) : null;
  return (x) => {
    const [n, h, wd] = x.shape;
    const y = tf.conv2dTranspose(x, w as tf.Tensor4D, [n, 2 * h, 2 * wd, cout], 2, 'same');
    return bias ? tf.add(y, bias) : y;
  };
}

/** Linear layer on [n, cin] rows; weight [cin, cout]. */
export function linear(
  b: ParamBuilder,
  name: string,
  cin: number,
  cout: number,
): (x: tf.Tensor2D) => tf.Tensor2D {
  const w = b.gaussian(`${name}.weight`, [cin, cout], 0, INIT_STD);
  const bias = b.constant(`${name}.bias`, [cout], 0);
  return (x) => tf.add(tf.matMul(x, w as tf.Tensor2D), bias);
}

/**
 * BatchNorm2d over N, H, W. Training: normalise with the batch's mean and biased variance and,
 * when asked, update the running averages with the unbiased variance (as PyTorch does).
 * Inference: normalise with the running averages.
 */
export function batchNorm(b: ParamBuilder, name: string, c: number): Layer {
  const gamma = b.gaussian(`${name}.weight`, [c], 1, INIT_STD) as tf.Variable<tf.Rank.R1>;
  const beta = b.constant(`${name}.bias`, [c], 0) as tf.Variable<tf.Rank.R1>;
  const runningMean = b.constant(`${name}.running_mean`, [c], 0, false) as tf.Variable<tf.Rank.R1>;
  const runningVar = b.constant(`${name}.running_var`, [c], 1, false) as tf.Variable<tf.Rank.R1>;
  return (x, ctx) => {
    if (!ctx.training) {
      return tf.batchNorm4d(x, runningMean, runningVar, beta, gamma, BN_EPS);
    }
    const { y, mean, variance } = batchNormTrain(x, gamma, beta);
    if (ctx.updateStats) {
      const count = x.shape[0] * x.shape[1] * x.shape[2];
      const unbiased = count > 1 ? count / (count - 1) : 1;
      tf.tidy(() => {
        runningMean.assign(tf.add(tf.mul(runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
        runningVar.assign(
          tf.add(tf.mul(runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbiased)),
        );
      });
    }
    return y;
  };
}

/**
 * @fidlab/tfjs-cpu's one-kernel training BatchNorm (its BATCH_NORM_TRAIN_KERNEL, registered with
 * a gradient for the wasm backend): 2 kernels forward and backward where tf.moments +
 * tf.batchNorm take ~25. Looked up by name so that models does not depend on that package.
 */
const FUSED_BN_KERNEL = 'FidlabBatchNormTrain';

/** Batch statistics over N, H, W (biased variance) and x normalised with them. */
function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (tf.getKernel(FUSED_BN_KERNEL, tf.getBackend()) != null) {
    const [y, mean, variance] = tf
      .engine()
      .runKernel(FUSED_BN_KERNEL, { x, gamma, beta }, { eps: BN_EPS }) as tf.Tensor[];
    return { y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]) as {
    mean: tf.Tensor1D;
    variance: tf.Tensor1D;
  };
  return { y: tf.batchNorm4d(x, mean, variance, beta, gamma, BN_EPS), mean, variance };
}

/**
 * Inverted dropout (PyTorch's): zero each element with probability p, scale the rest by
 * 1 / (1 - p). Masks come from ctx.rng, so a saved seed reproduces them on any backend.
 */
export function dropout(x: tf.Tensor4D, p: number, ctx: ForwardContext): tf.Tensor4D {
  if (!ctx.training || p === 0) return x;
  const mask = new Float32Array(x.size);
  const keep = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = ctx.rng.next() < p ? 0 : keep;
  return tf.mul(x, tf.tensor(mask, x.shape, 'float32'));
}

export const leakyRelu = (x: tf.Tensor4D): tf.Tensor4D => tf.leakyRelu(x, LEAKY_SLOPE);
