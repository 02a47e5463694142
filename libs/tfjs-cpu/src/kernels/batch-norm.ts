// Training-mode BatchNorm (batch statistics over every axis but the last: NHWC's [0, 1, 2]) as one
// kernel, and its gradient as one more, on the wasm heap. tf.moments + tf.batchNorm and their
// gradients take ~25 kernels per BatchNorm (Sum, Mean, Square, Sub, RealDiv, Tile, ...), each a
// memory pass plus ~10-15 us of JavaScript. The passes over the tensor are f32x4 code (JS loops
// were ~7 ns per element, slower than the kernels they replace); per-channel work is in JS.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmAsm as W } from '@fidlab/base';
import { addressOf, heapFunctions } from './heap-simd.js';

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

/**
 * The tensor seen as flat float32 [rows * c] in f32x4 chunks: chunk i covers channels
 * (4i .. 4i + 3) mod c, so per-channel constants are laid out as a pattern of `period` =
 * lcm(c, 4) floats that the SIMD passes cycle through; the last n mod 4 floats are done in JS.
 * `scratch` holds those patterns and the float64 per-position sums of the statistics passes.
 */
class Layout {
  readonly period: number;
  readonly n: number;
  /** Floats handled by the SIMD passes (a multiple of 4). */
  readonly body: number;
  private readonly scratch: tf.TensorInfo;

  /** Scratch for 2 float64 sums per pattern position and `patterns` float32 patterns. */
  constructor(
    private readonly backend: BackendWasm,
    readonly c: number,
    rows: number,
    patterns: number,
  ) {
    this.period = c * (c % 4 === 0 ? 1 : c % 2 === 0 ? 2 : 4);
    this.n = rows * c;
    this.body = this.n & ~3;
    // Sums first: float64 needs 8-byte alignment, and malloc returns at least that.
    this.scratch = backend.makeOutput([this.period * (4 + patterns)], 'float32');
  }

  /** Call after every allocation of the kernel (a growing heap detaches earlier views). */
  view(t: tf.TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(t) as Float32Array;
  }

  /** Float64 sums [2][period], zeroed. */
  sums(): Float64Array {
    const v = this.view(this.scratch);
    const sums = new Float64Array(v.buffer, v.byteOffset, 2 * this.period);
    sums.fill(0);
    return sums;
  }

  sumsAt(): number {
    return addressOf(this.backend, this.scratch);
  }

  /** Pattern k (float32 [period]) filled with per-channel values; returns its byte offset. */
  pattern(k: number, perChannel: ArrayLike<number>): number {
    const v = this.view(this.scratch);
    const at = this.period * (4 + k);
    const dst = v.subarray(at, at + this.period);
    for (let i = 0; i < this.period; i++) dst[i] = perChannel[i % this.c];
    return addressOf(this.backend, this.scratch) + 4 * at;
  }

  /** The per-position sums folded to per-channel sums [2][c]. */
  fold(sums: Float64Array): [Float64Array, Float64Array] {
    const { c, period } = this;
    const out: [Float64Array, Float64Array] = [new Float64Array(c), new Float64Array(c)];
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < period; i++) out[h][i % c] += sums[h * period + i];
    }
    return out;
  }

  dispose(): void {
    this.backend.disposeData(this.scratch.dataId);
  }
}

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
  const L = new Layout(backend, c, tf.util.sizeFromShape(x.shape) / c, 4);
  const [xv, gv, bv, yv, meanv, varv] = [x, gamma, beta, ...outs].map((t) => L.view(t));
  const { n, body, period } = L;
  const [xAt, yAt] = [x, outs[0]].map((t) => addressOf(backend, t));
  // Sums of x minus its first row: the shift keeps sum(d^2) - sum(d)^2 / n accurate when the
  // mean is large against the spread.
  const shift = xv.subarray(0, c);
  const sums = L.sums();
  if (body > 0) simd(backend).sums(xAt, L.pattern(0, shift), L.sumsAt(), 4 * body, 4 * period);
  const [s1, s2] = L.fold(sums);
  for (let i = body; i < n; i++) {
    const d = xv[i] - shift[i % c];
    s1[i % c] += d;
    s2[i % c] += d * d;
  }
  const rows = n / c;
  const mean = new Float64Array(c);
  const scale = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    const dm = s1[j] / rows;
    const variance = Math.max(s2[j] / rows - dm * dm, 0);
    mean[j] = shift[j] + dm;
    scale[j] = gv[j] / Math.sqrt(variance + eps);
    meanv[j] = mean[j];
    varv[j] = variance;
  }
  if (body > 0) {
    const [pm, ps, pb] = [mean, scale, bv].map((v, k) => L.pattern(1 + k, v));
    simd(backend).normalize(xAt, yAt, 4 * body, 4 * period, pm, ps, pb);
  }
  for (let i = body; i < n; i++) {
    const j = i % c;
    yv[i] = (xv[i] - mean[j]) * scale[j] + bv[j];
  }
  L.dispose();
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
  const L = new Layout(backend, c, tf.util.sizeFromShape(x.shape) / c, 4);
  const views = [dy, x, gamma, mean, variance, dmean, dvar, ...outs].map((t) => L.view(t));
  const [dyv, xv, gv, mv, vv, dmv, dvv, dxv, dgv, dbv] = views;
  const { n, body, period } = L;
  const [dyAt, xAt, dxAt] = [dy, x, outs[0]].map((t) => addressOf(backend, t));
  const pm = L.pattern(0, mv);
  const sums = L.sums();
  if (body > 0) simd(backend).weightedSums(xAt, dyAt, pm, L.sumsAt(), 4 * body, 4 * period);
  const [sumDy, sumDyXc] = L.fold(sums);
  for (let i = body; i < n; i++) {
    const j = i % c;
    sumDy[j] += dyv[i];
    sumDyXc[j] += dyv[i] * (xv[i] - mv[j]);
  }
  // dx = a dy + b xc + k per channel.
  const rows = n / c;
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
  if (body > 0) {
    const [pa, pb, pk] = [a, b, k].map((v, i) => L.pattern(1 + i, v));
    simd(backend).gradX(dyAt, xAt, dxAt, 4 * body, 4 * period, pa, pb, pm, pk);
  }
  for (let i = body; i < n; i++) {
    const j = i % c;
    dxv[i] = a[j] * dyv[i] + b[j] * (xv[i] - mv[j]) + k[j];
  }
  L.dispose();
  return outs;
}

// ---- the f32x4 passes (byte offsets; `bytes` > 0 and `period` multiples of 16) ----

type Asm = ReturnType<typeof W.assembler>;
const mem = (offset: number) => [0, ...W.uleb(offset)]; // alignment hint 1 byte

/** Opens the loop over chunks: o, the flat byte offset, and p, the pattern's, from 0. */
function loopStart(A: Asm, O: number, P: number): void {
  A.w(A.c32(0), A.set(O), A.c32(0), A.set(P), A.op(W.LOOP, W.VOID));
}

/** p += 16, back to 0 at `period`; o += 16, again while o < bytes; then the function's end. */
function loopEnd(A: Asm, O: number, P: number, BYTES: number, PERIOD: number): void {
  const { get, set, tee, c32, op, w } = A;
  w(get(P), c32(16), op(W.I32_ADD), tee(P), get(PERIOD), op(W.I32_GE_U));
  w(op(W.IF, W.VOID), c32(0), set(P), op(W.END));
  w(get(O), c32(16), op(W.I32_ADD), tee(O), get(BYTES), op(W.I32_LT_U), op(W.BR_IF, 0));
  w(op(W.END), op(W.END));
}

/** base + offset, then the v128 at it (f32x4). */
const load = (A: Asm, base: number, off: number) => [
  ...A.get(base),
  ...A.get(off),
  W.I32_ADD,
  ...A.simd(W.V128_LOAD),
  ...mem(0),
];

/**
 * sums(x, [u,] c, acc, bytes, period): per pattern position q, in float64,
 *   acc[q] += u, acc[period + q] += u (x - c[q])   with u = x - c[q] when unweighted
 * (x, u flat float32; c a float32 pattern; acc float64 [2][period]).
 */
function sumsBody(weighted: boolean): number[] {
  const params = weighted
    ? ['x', 'u', 'c', 'acc', 'bytes', 'period']
    : ['x', 'c', 'acc', 'bytes', 'period'];
  const [X, U, C, ACC, BYTES, PERIOD] = ['x', 'u', 'c', 'acc', 'bytes', 'period'].map((p) =>
    params.indexOf(p),
  );
  const first = params.length; // locals follow the parameters
  const [O, P, A1, A2] = [first, first + 1, first + 2, first + 3];
  const D = [first + 4, first + 5];
  const UV = weighted ? [first + 6, first + 7] : D;
  const A = W.assembler();
  const { get, set, tee, c32, op, simd: s, w } = A;
  // Two float32 at base + off + 8h, as float64x2.
  const half = (base: number, off: number, h: number) => [
    ...get(base),
    ...get(off),
    W.I32_ADD,
    ...s(W.V128_LOAD64_ZERO),
    ...mem(8 * h),
    ...s(W.F64X2_PROMOTE_LOW_F32X4),
  ];
  loopStart(A, O, P);
  for (const h of [0, 1]) {
    w(half(X, O, h), half(C, P, h), s(W.F64X2_SUB), set(D[h]));
    if (weighted) w(half(U, O, h), set(UV[h]));
  }
  // a1 = acc + 2p (float64 per float32 position), a2 = a1 + 2 period
  w(get(P), c32(1), op(W.I32_SHL), get(ACC), op(W.I32_ADD), tee(A1));
  w(get(PERIOD), c32(1), op(W.I32_SHL), op(W.I32_ADD), set(A2));
  for (const h of [0, 1]) {
    w(get(A1), get(A1), s(W.V128_LOAD), mem(16 * h), get(UV[h]), s(W.F64X2_ADD));
    w(s(W.V128_STORE), mem(16 * h));
    w(get(A2), get(A2), s(W.V128_LOAD), mem(16 * h), get(UV[h]), get(D[h]), s(W.F64X2_MUL));
    w(s(W.F64X2_ADD), s(W.V128_STORE), mem(16 * h));
  }
  loopEnd(A, O, P, BYTES, PERIOD);
  const v128s = weighted ? 4 : 2;
  return [2, 4, W.I32, v128s, W.V128, ...A.code];
}

/** normalize(x, out, bytes, period, m, s, b): out = (x - m) s + b, m, s, b float32 patterns. */
function normalizeBody(): number[] {
  const [X, OUT, BYTES, PERIOD, PM, PS, PB, O, P] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const A = W.assembler();
  const { get, simd: s, w } = A;
  loopStart(A, O, P);
  w(get(OUT), get(O), [W.I32_ADD], load(A, X, O), load(A, PM, P), s(W.F32X4_SUB));
  w(load(A, PS, P), s(W.F32X4_MUL), load(A, PB, P), s(W.F32X4_ADD), s(W.V128_STORE), mem(0));
  loopEnd(A, O, P, BYTES, PERIOD);
  return [1, 2, W.I32, ...A.code];
}

/** gradX(dy, x, out, bytes, period, a, b, m, k): out = a dy + b (x - m) + k (patterns a, b, m, k). */
function gradXBody(): number[] {
  const [DY, X, OUT, BYTES, PERIOD, PA, PB, PM, PK, O, P] = Array.from({ length: 11 }, (_, i) => i);
  const A = W.assembler();
  const { get, simd: s, w } = A;
  loopStart(A, O, P);
  w(get(OUT), get(O), [W.I32_ADD], load(A, DY, O), load(A, PA, P), s(W.F32X4_MUL));
  w(load(A, X, O), load(A, PM, P), s(W.F32X4_SUB), load(A, PB, P), s(W.F32X4_MUL));
  w(s(W.F32X4_ADD), load(A, PK, P), s(W.F32X4_ADD), s(W.V128_STORE), mem(0));
  loopEnd(A, O, P, BYTES, PERIOD);
  return [1, 2, W.I32, ...A.code];
}

type Fn = (...args: number[]) => void;
const I32 = (k: number) => Array<number>(k).fill(W.I32);
const simd = heapFunctions<{ sums: Fn; weightedSums: Fn; normalize: Fn; gradX: Fn }>([
  { name: 'sums', params: I32(5), body: sumsBody(false) },
  { name: 'weightedSums', params: I32(6), body: sumsBody(true) },
  { name: 'normalize', params: I32(7), body: normalizeBody() },
  { name: 'gradX', params: I32(9), body: gradXBody() },
]);

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
