// Training-mode BatchNorm (batch statistics over every axis but the last: NHWC's [0, 1, 2]) as one
// kernel, and its gradient as one more, in JS straight on the wasm heap. tf.moments + tf.batchNorm
// and their gradients take ~25 kernels per BatchNorm (Sum, Mean, Square, Sub, RealDiv, Tile, ...),
// each a memory pass plus ~10-15 us of JavaScript.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Kernel names; @fidlab/models looks the first up by this string (it does not import us). */
export const BATCH_NORM_TRAIN_KERNEL = 'FidlabBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD_KERNEL = 'FidlabBatchNormTrainGrad';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: unknown };
type Eps = { eps: number };

/** Channel count (last axis) after checking that `perChannel` are float32 vectors of it. */
function channelsOf(kernel: string, x: tf.TensorInfo, perChannel: Record<string, tf.TensorInfo>) {
  const c = x.shape[x.shape.length - 1];
  if (x.shape.length < 2 || x.dtype !== 'float32') {
    throw new Error(`${kernel}: x must be float32 of rank >= 2, got ${x.dtype} [${x.shape}]`);
  }
  for (const [name, t] of Object.entries(perChannel)) {
    if (t.dtype !== 'float32' || t.shape.length !== 1 || t.shape[0] !== c) {
      throw new Error(`${kernel}: ${name} must be float32 [${c}], got ${t.dtype} [${t.shape}]`);
    }
  }
  return c;
}

const viewer = (backend: BackendWasm) => (t: tf.TensorInfo) =>
  backend.typedArrayFromHeap(t) as Float32Array;

/**
 * inputs {x, gamma, beta}, attrs {eps} -> [y, mean, variance] with mean and the biased variance
 * of x over all axes but the last (float64 sums), y = (x - mean) / sqrt(variance + eps) * gamma
 * + beta: what tf.moments(x, axes) and tf.batchNorm(x, mean, variance, beta, gamma, eps) give.
 */
export function batchNormTrain(args: Args): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs as Record<'x' | 'gamma' | 'beta', tf.TensorInfo>;
  const { eps } = args.attrs as Eps;
  const c = channelsOf(BATCH_NORM_TRAIN_KERNEL, x, { gamma, beta });
  const backend = args.backend as BackendWasm;
  const outs = [
    backend.makeOutput(x.shape, 'float32'),
    backend.makeOutput([c], 'float32'),
    backend.makeOutput([c], 'float32'),
  ];
  // Views only after every allocation: a growing heap detaches the views taken before.
  const view = viewer(backend);
  const [xv, gv, bv] = [x, gamma, beta].map(view);
  const [yv, meanv, varv] = outs.map(view);
  const rows = xv.length / c;
  // Sums of x minus its first row: the shift keeps sum(d^2) - sum(d)^2 / n accurate when the
  // mean is large against the spread.
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let i = 0, r = 0; r < rows; r++) {
    for (let j = 0; j < c; j++, i++) {
      const d = xv[i] - xv[j];
      s1[j] += d;
      s2[j] += d * d;
    }
  }
  const mean = new Float64Array(c);
  const scale = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    const dm = s1[j] / rows;
    const variance = Math.max(s2[j] / rows - dm * dm, 0);
    mean[j] = xv[j] + dm;
    scale[j] = gv[j] / Math.sqrt(variance + eps);
    meanv[j] = mean[j];
    varv[j] = variance;
  }
  for (let i = 0, r = 0; r < rows; r++) {
    for (let j = 0; j < c; j++, i++) yv[i] = (xv[i] - mean[j]) * scale[j] + bv[j];
  }
  return outs;
}

/**
 * The gradient of batchNormTrain for all three outputs. inputs {dy, x, gamma, mean, variance,
 * dmean, dvar} (dmean, dvar: upstream gradients of the mean and variance outputs), attrs {eps}
 * -> [dx, dgamma, dbeta]. With n rows, r = 1 / sqrt(variance + eps), xc = x - mean:
 *   dbeta = sum dy;  dgamma = r sum dy xc
 *   dx = gamma r (dy - dbeta / n - xc r dgamma / n) + dmean / n + 2 dvar xc / n
 * (d mean / dx = 1 / n; d variance / dx = 2 xc / n, the mean's own term summing to zero).
 */
export function batchNormTrainGrad(args: Args): tf.TensorInfo[] {
  const ins = args.inputs as Record<
    'dy' | 'x' | 'gamma' | 'mean' | 'variance' | 'dmean' | 'dvar',
    tf.TensorInfo
  >;
  const { dy, x, gamma, mean, variance, dmean, dvar } = ins;
  const { eps } = args.attrs as Eps;
  const c = channelsOf(BATCH_NORM_TRAIN_GRAD_KERNEL, x, { gamma, mean, variance, dmean, dvar });
  if (dy.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, x.shape)) {
    throw new Error(`${BATCH_NORM_TRAIN_GRAD_KERNEL}: dy [${dy.shape}] does not match x`);
  }
  const backend = args.backend as BackendWasm;
  const outs = [
    backend.makeOutput(x.shape, 'float32'),
    backend.makeOutput([c], 'float32'),
    backend.makeOutput([c], 'float32'),
  ];
  const view = viewer(backend);
  const [dyv, xv, gv, mv, vv, dmv, dvv] = [dy, x, gamma, mean, variance, dmean, dvar].map(view);
  const [dxv, dgv, dbv] = outs.map(view);
  const rows = xv.length / c;
  const sumDy = new Float64Array(c);
  const sumDyXc = new Float64Array(c);
  for (let i = 0, r = 0; r < rows; r++) {
    for (let j = 0; j < c; j++, i++) {
      const g = dyv[i];
      sumDy[j] += g;
      sumDyXc[j] += g * (xv[i] - mv[j]);
    }
  }
  // dx = a dy + b xc + k per channel.
  const a = new Float64Array(c);
  const b = new Float64Array(c);
  const k = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    const rstd = 1 / Math.sqrt(vv[j] + eps);
    a[j] = gv[j] * rstd;
    b[j] = (-a[j] * rstd * rstd * sumDyXc[j] + 2 * dvv[j]) / rows;
    k[j] = (-a[j] * sumDy[j] + dmv[j]) / rows;
    dgv[j] = sumDyXc[j] * rstd;
    dbv[j] = sumDy[j];
  }
  for (let i = 0, r = 0; r < rows; r++) {
    for (let j = 0; j < c; j++, i++) dxv[i] = a[j] * dyv[i] + b[j] * (xv[i] - mv[j]) + k[j];
  }
  return outs;
}

/**
 * Gradient of BATCH_NORM_TRAIN_KERNEL. The one gradient kernel computes dx, dgamma and dbeta
 * together, so it runs once, here, in the backward pass's scope: tfjs calls each input's closure
 * in its own tidy, which would free the other two outputs had the first closure made them.
 * Whatever closure is not called (an input off the gradient's path) leaves its tensor to the
 * backward pass's tidy.
 */
export const batchNormTrainGradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN_KERNEL,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    // tfjs passes zeros for outputs that do not reach the loss.
    const [dy, dmean, dvar] = dys as tf.Tensor[];
    const [x, gamma, mean, variance] = saved;
    const [dx, dgamma, dbeta] = tf
      .engine()
      .runKernel(
        BATCH_NORM_TRAIN_GRAD_KERNEL,
        { dy, x, gamma, mean, variance, dmean, dvar },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};
