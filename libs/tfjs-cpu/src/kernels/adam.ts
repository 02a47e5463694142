// One Adam update (torch.optim.Adam, no weight decay) of one parameter as a single kernel: one
// f32x4 pass over the wasm heap where tfjs ops take ~13 kernels per parameter, each a memory pass
// plus ~10-15 us of JavaScript. (A JS loop over the heap was slower than those 13 wasm passes.)
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmAsm as W } from '@fidlab/base';
import { addressOf, heapFunctions } from './heap-simd.js';

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
  const n = tf.util.sizeFromShape(param.shape);
  // Each operation in float32 and in the order of the ops path (Adam in @fidlab/training), its
  // constants rounded to float32 as tfjs rounds scalars: the same bits as those ops on wasm.
  const consts = [
    beta1,
    1 - beta1,
    beta2,
    1 - beta2,
    Math.sqrt(1 - beta2 ** step),
    eps,
    lr / (1 - beta1 ** step),
  ].map(Math.fround) as AdamConsts;
  const tensors = [param, grad, m, v, ...outs];
  const body = n & ~3;
  if (body > 0) {
    const [p0, g, m0, v0, p1, m1, v1] = tensors.map((t) => addressOf(backend, t));
    simd(backend).adam(p0, g, m0, v0, p1, m1, v1, body * 4, ...consts);
  }
  if (body < n) {
    // The last n % 4 elements in JS, with the same float32 roundings.
    const view = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
    const [p0, g, m0, v0, p1, m1, v1] = tensors.map(view);
    const [b1, c1, b2, c2, bc2, e, stepSize] = consts;
    const f = Math.fround;
    for (let i = body; i < n; i++) {
      const gi = g[i];
      m1[i] = f(m0[i] * b1) + f(gi * c1);
      v1[i] = f(v0[i] * b2) + f(f(gi * gi) * c2);
      const denom = f(f(f(Math.sqrt(v1[i])) / bc2) + e);
      p1[i] = p0[i] - f(f(m1[i] / denom) * stepSize);
    }
  }
  return outs;
}

/** beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps, lr / (1 - beta1^t). */
type AdamConsts = [number, number, number, number, number, number, number];
type AdamSimd = (
  p0: number,
  g: number,
  m0: number,
  v0: number,
  p1: number,
  m1: number,
  v1: number,
  bytes: number,
  ...consts: AdamConsts
) => void;

/**
 * adam(p0, g, m0, v0, p1, m1, v1, bytes, beta1, c1, beta2, c2, bc2, eps, stepSize): byte offsets,
 * `bytes` > 0 a multiple of 16, then float32 constants. For each 4 floats at offset o < bytes:
 *   m1 = m0 beta1 + g c1;  v1 = v0 beta2 + (g g) c2;  p1 = p0 - (m1 / (sqrt(v1) / bc2 + eps)) stepSize
 */
function adamBody(): number[] {
  const [P0, G, M0, V0, P1, M1, V1, BYTES] = [0, 1, 2, 3, 4, 5, 6, 7];
  const CONSTS = [8, 9, 10, 11, 12, 13, 14];
  const O = 15;
  const [B1, C1, B2, C2, BC2, EPS, SS, VG, VM, VV] = Array.from({ length: 10 }, (_, i) => 16 + i);
  const { code, get, set, tee, c32, op, simd: s, w } = W.assembler();
  const mem = [0, 0]; // alignment hint 1, offset 0
  const load = (base: number) => [...get(base), ...get(O), W.I32_ADD, ...s(W.V128_LOAD), ...mem];
  const addr = (base: number) => [...get(base), ...get(O), W.I32_ADD];
  [B1, C1, B2, C2, BC2, EPS, SS].forEach((v, i) => w(get(CONSTS[i]), s(W.F32X4_SPLAT), set(v)));
  w(c32(0), set(O));
  w(op(W.LOOP, W.VOID));
  w(load(G), set(VG));
  // m1 = m0 * beta1 + g * c1
  w(addr(M1), load(M0), get(B1), s(W.F32X4_MUL), get(VG), get(C1), s(W.F32X4_MUL));
  w(s(W.F32X4_ADD), tee(VM), s(W.V128_STORE), mem);
  // v1 = v0 * beta2 + (g * g) * c2
  w(addr(V1), load(V0), get(B2), s(W.F32X4_MUL), get(VG), get(VG), s(W.F32X4_MUL));
  w(get(C2), s(W.F32X4_MUL), s(W.F32X4_ADD), tee(VV), s(W.V128_STORE), mem);
  // p1 = p0 - (m1 / (sqrt(v1) / bc2 + eps)) * stepSize
  w(addr(P1), load(P0), get(VM), get(VV), s(W.F32X4_SQRT), get(BC2), s(W.F32X4_DIV), get(EPS));
  w(s(W.F32X4_ADD), s(W.F32X4_DIV), get(SS), s(W.F32X4_MUL), s(W.F32X4_SUB), s(W.V128_STORE), mem);
  w(get(O), c32(16), op(W.I32_ADD), tee(O), get(BYTES), op(W.I32_LT_U), op(W.BR_IF, 0));
  w(op(W.END), op(W.END));
  return [2, 1, W.I32, 10, W.V128, ...code];
}

const simd = heapFunctions<{ adam: AdamSimd }>([
  {
    name: 'adam',
    params: [...Array<number>(8).fill(W.I32), ...Array<number>(7).fill(W.F32)],
    body: adamBody(),
  },
]);
