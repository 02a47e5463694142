// One Adam update (torch.optim.Adam, no weight decay) of one parameter as a single kernel, in JS
// straight on the wasm heap: the same update as tfjs ops takes ~13 kernels per parameter, each a
// memory pass plus ~10-15 us of JavaScript.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Kernel name; @fidlab/training looks it up by this string (it does not import this package). */
export const ADAM_KERNEL = 'FidlabAdam';

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  /** 1-based step count of this update (bias corrections 1 - beta^step). */
  step: number;
  eps: number;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: unknown };

/**
 * inputs {param, grad, m, v} (float32, one shape) -> [param, m, v] after the update:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * New tensors: the inputs may share their data with other tensors (clones, saved activations).
 */
export function adam(args: Args): tf.TensorInfo[] {
  const { param, grad, m, v } = args.inputs as Record<'param' | 'grad' | 'm' | 'v', tf.TensorInfo>;
  const { lr, beta1, beta2, step, eps } = args.attrs as AdamAttrs;
  for (const [name, t] of Object.entries({ param, grad, m, v })) {
    if (t.dtype !== 'float32') {
      throw new Error(`${ADAM_KERNEL}: float32 tensors only (${name} is ${t.dtype})`);
    }
    if (!tf.util.arraysEqual(t.shape, param.shape)) {
      throw new Error(`${ADAM_KERNEL}: ${name} has shape [${t.shape}], param [${param.shape}]`);
    }
  }
  const backend = args.backend as BackendWasm;
  const outs = [param, m, v].map(() => backend.makeOutput(param.shape, 'float32'));
  // Views only after every allocation: a growing heap detaches the views taken before.
  const view = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const [p0, g, m0, v0] = [param, grad, m, v].map(view);
  const [p1, m1, v1] = outs.map(view);
  const stepSize = lr / (1 - beta1 ** step);
  const bc2 = Math.sqrt(1 - beta2 ** step);
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (let i = 0; i < p0.length; i++) {
    const gi = g[i];
    // Stored first, then read back: the step uses the float32 moments, as the ops path does.
    m1[i] = beta1 * m0[i] + c1 * gi;
    v1[i] = beta2 * v0[i] + c2 * gi * gi;
    p1[i] = p0[i] - (stepSize * m1[i]) / (Math.sqrt(v1[i]) / bc2 + eps);
  }
  return outs;
}
