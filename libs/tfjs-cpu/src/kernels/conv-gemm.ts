// Convolutions as im2col + the threaded sgemm (../sgemm): the forward pass, the input gradient
// (also a transposed convolution's forward pass) and the filter gradient, NHWC, any stride and
// padding, no dilation. Each copies its operands from the tfjs wasm heap into the sgemm arena,
// lays them out as the GEMM wants them (im2col rows, im2col transposed, the filter transposed),
// runs the GEMM on every core and writes the result back. Work is cut into chunks of output rows
// so the im2col buffer stays under convGemmTuning.chunkFloats whatever the image size.
import * as tf from '@tensorflow/tfjs';
import { SGEMM_PAD } from '../sgemm/kernel.js';
import { sgemm, type Sgemm } from '../sgemm/threads.js';

export const convGemmTuning = {
  /** Largest im2col chunk, in floats (16 MB). */
  chunkFloats: 1 << 22,
  /** GEMMs under this many flops run on the calling thread only (waking a worker costs more). */
  parallelFlops: 1 << 20,
};

const up = (x: number, to: number) => Math.ceil(x / to) * to;

/** The geometry every kernel here needs, from tfjs's conv info. */
export interface ConvGeom {
  n: number;
  h: number;
  w: number;
  c: number;
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  oh: number;
  ow: number;
  top: number;
  left: number;
}

export function geom(info: tf.backend_util.Conv2DInfo): ConvGeom {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    c: info.inChannels,
    o: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    oh: info.outHeight,
    ow: info.outWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

function run(g: Sgemm, job: Parameters<Sgemm['gemm']>[0]): void {
  g.gemm(job, 2 * job.m * job.n * job.k >= convGemmTuning.parallelFlops);
}

/** Output rows (b, y) per chunk: each row is ow pixels of k floats in im2col. */
function rowsPerChunk(g: ConvGeom, floatsPerPixel: number): number {
  return Math.max(1, Math.floor(convGemmTuning.chunkFloats / Math.max(1, g.ow * floatsPerPixel)));
}

/** Copies n floats (a short run: a loop beats subarray + set under ~64). */
function copy(src: Float32Array, s0: number, dst: Float32Array, d0: number, n: number): void {
  if (n >= 64) dst.set(src.subarray(s0, s0 + n), d0);
  else for (let t = 0; t < n; t++) dst[d0 + t] = src[s0 + t];
}

/**
 * im2col of output rows [q0, q1) (q = b * oh + y) into dst (row-major, pixel by pixel, k = kh *
 * kw * c floats each, zeros where the window leaves the image). Within one filter row the kw
 * taps read one contiguous run of the input row, clipped at the image's edges.
 */
function im2col(
  g: ConvGeom,
  x: Float32Array,
  q0: number,
  q1: number,
  dst: Float32Array,
  at: number,
) {
  const { h, w, c, kh, kw, sh, sw, oh, ow, top, left } = g;
  const k = kh * kw * c;
  dst.fill(0, at, at + (q1 - q0) * ow * k);
  let d = at;
  for (let q = q0; q < q1; q++) {
    const b = Math.floor(q / oh);
    const y0 = (q - b * oh) * sh - top;
    for (let xo = 0; xo < ow; xo++, d += k) {
      const x0 = xo * sw - left;
      const j0 = Math.max(0, -x0);
      const j1 = Math.min(kw, w - x0);
      if (j1 <= j0) continue;
      for (let i = 0; i < kh; i++) {
        const yy = y0 + i;
        if (yy < 0 || yy >= h) continue;
        copy(x, ((b * h + yy) * w + x0 + j0) * c, dst, d + (i * kw + j0) * c, (j1 - j0) * c);
      }
    }
  }
}

/** Copies rows x cols of src (row stride cols) to dst with row stride ld (ld >= cols). */
function copyRows(
  src: Float32Array,
  s0: number,
  rows: number,
  cols: number,
  dst: Float32Array,
  d0: number,
  ld: number,
) {
  if (ld === cols) {
    dst.set(src.subarray(s0, s0 + rows * cols), d0);
    return;
  }
  for (let r = 0; r < rows; r++) {
    dst.set(src.subarray(s0 + r * cols, s0 + (r + 1) * cols), d0 + r * ld);
    dst.fill(0, d0 + r * ld + cols, d0 + (r + 1) * ld);
  }
}

/** y[n, oh, ow, o] = conv(x, filter): out is a preallocated view of the output. */
export function convForward(g: ConvGeom, x: Float32Array, filter: Float32Array, out: Float32Array) {
  const { oh, ow, o } = g;
  const k = g.kh * g.kw * g.c;
  const N = up(o, SGEMM_PAD.cols);
  const qs = rowsPerChunk(g, k);
  const rowsTotal = g.n * oh;
  const maxM = up(Math.min(qs, rowsTotal) * ow, SGEMM_PAD.rows);
  const gm = sgemm();
  const B = 0;
  const A = up(k * N, 16);
  const C = A + up(maxM * k, 16);
  gm.reserve(C + maxM * N);
  const f = gm.f32();
  copyRows(filter, 0, k, o, f, B, N);
  // 1x1, stride 1, no padding: im2col is the input itself.
  const pointwise =
    g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0;
  for (let q0 = 0; q0 < rowsTotal; q0 += qs) {
    const q1 = Math.min(q0 + qs, rowsTotal);
    const m = (q1 - q0) * ow;
    const M = up(m, SGEMM_PAD.rows);
    if (pointwise) f.set(x.subarray(q0 * ow * k, q1 * ow * k), A);
    else im2col(g, x, q0, q1, f, A);
    f.fill(0, A + m * k, A + M * k);
    run(gm, { a: A, b: B, c: C, lda: k, ldb: N, ldc: N, m: M, n: N, k });
    const o0 = q0 * ow * o;
    if (N === o) out.set(f.subarray(C, C + m * o), o0);
    else for (let r = 0; r < m; r++) out.set(f.subarray(C + r * N, C + r * N + o), o0 + r * o);
  }
}

/**
 * dx[n, h, w, c] from dy[n, oh, ow, o] and filter[kh, kw, c, o]: cols = dy W^T (one GEMM per
 * chunk of output rows), then col2im adds each pixel's columns into its window. dx is zeroed here.
 * With more filter taps x channels than pixels (deep layers) the GEMM is done transposed,
 * cols^T = W dy^T, so that the small operand (dy) is the one transposed, not the filter.
 */
export function convBackpropInput(
  g: ConvGeom,
  dy: Float32Array,
  filter: Float32Array,
  dx: Float32Array,
) {
  const { h, w, c, o, kh, kw, sh, sw, oh, ow, top, left } = g;
  const k = kh * kw * c;
  const rowsTotal = g.n * oh;
  const transposed = k > rowsTotal * ow;
  const K = up(k, transposed ? SGEMM_PAD.rows : SGEMM_PAD.cols);
  const qs = rowsPerChunk(g, K + o);
  const maxM = up(Math.min(qs, rowsTotal) * ow, SGEMM_PAD.cols);
  const gm = sgemm();
  const W = 0; // the filter: as is [K, o] (transposed) or W^T [o, K]
  const D = up(o * K, 16); // dy's chunk: [M, o] or dy^T [o, M]
  const C = D + up(maxM * o, 16);
  gm.reserve(C + maxM * K);
  const f = gm.f32();
  if (transposed) {
    f.set(filter.subarray(0, k * o), W);
    f.fill(0, W + k * o, W + K * o);
  } else {
    f.fill(0, W, W + o * K);
    for (let p = 0; p < k; p++) for (let q = 0; q < o; q++) f[W + q * K + p] = filter[p * o + q];
  }
  dx.fill(0);
  for (let q0 = 0; q0 < rowsTotal; q0 += qs) {
    const q1 = Math.min(q0 + qs, rowsTotal);
    const m = (q1 - q0) * ow;
    // Element (pixel mi, tap/channel kk) of cols is at C + mi * K + kk, or C + kk * M + mi.
    let M: number, pixStep: number, kkStep: number;
    if (transposed) {
      M = up(m, SGEMM_PAD.cols);
      f.fill(0, D, D + o * M);
      for (let mi = 0, src = q0 * ow * o; mi < m; mi++) {
        for (let q = 0; q < o; q++) f[D + q * M + mi] = dy[src++];
      }
      run(gm, { a: W, b: D, c: C, lda: o, ldb: M, ldc: M, m: K, n: M, k: o });
      [pixStep, kkStep] = [1, M];
    } else {
      M = up(m, SGEMM_PAD.rows);
      f.set(dy.subarray(q0 * ow * o, q1 * ow * o), D);
      f.fill(0, D + m * o, D + M * o);
      run(gm, { a: D, b: W, c: C, lda: o, ldb: K, ldc: K, m: M, n: K, k: o });
      [pixStep, kkStep] = [K, 1];
    }
    let src0 = C;
    for (let q = q0; q < q1; q++) {
      const b = Math.floor(q / oh);
      const y0 = (q - b * oh) * sh - top;
      for (let xo = 0; xo < ow; xo++, src0 += pixStep) {
        const x0 = xo * sw - left;
        const j0 = Math.max(0, -x0);
        const j1 = Math.min(kw, w - x0);
        if (j1 <= j0) continue;
        const len = (j1 - j0) * c;
        for (let i = 0; i < kh; i++) {
          const yy = y0 + i;
          if (yy < 0 || yy >= h) continue;
          // The window's taps j0..j1 of filter row i cover one contiguous run of dx's row yy.
          const d = ((b * h + yy) * w + x0 + j0) * c;
          let src = src0 + (i * kw + j0) * c * kkStep;
          for (let t = 0; t < len; t++, src += kkStep) dx[d + t] += f[src];
        }
      }
    }
  }
}

/**
 * dW[kh, kw, c, o] = sum over pixels of im2col(x)^T dy: the transposed im2col of each chunk of
 * output rows is A [k, m], dy's rows B [m, o]; chunks accumulate into C.
 */
export function convBackpropFilter(
  g: ConvGeom,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
) {
  const { h, w, c, o, kh, kw, sh, sw, oh, ow, top, left } = g;
  const k = kh * kw * c;
  const Kr = up(k, SGEMM_PAD.rows);
  const O = up(o, SGEMM_PAD.cols);
  const qs = rowsPerChunk(g, Kr + O);
  const rowsTotal = g.n * oh;
  const maxM = Math.min(qs, rowsTotal) * ow;
  const gm = sgemm();
  const C = 0;
  const A = up(Kr * O, 16);
  const B = A + up(Kr * maxM, 16);
  gm.reserve(B + maxM * O);
  const f = gm.f32();
  for (let q0 = 0; q0 < rowsTotal; q0 += qs) {
    const q1 = Math.min(q0 + qs, rowsTotal);
    const m = (q1 - q0) * ow;
    // A[(i, j, ch), pixel]: row by row, sequential writes, reads strided by sw * c; the output
    // columns whose tap j falls inside the image are [xa, xb).
    f.fill(0, A, A + Kr * m);
    for (let j = 0; j < kw; j++) {
      const xa = Math.max(0, Math.ceil((left - j) / sw));
      const xb = Math.min(ow, Math.floor((w - 1 + left - j) / sw) + 1);
      if (xb <= xa) continue;
      for (let i = 0; i < kh; i++) {
        for (let q = q0; q < q1; q++) {
          const b = Math.floor(q / oh);
          const yy = (q - b * oh) * sh - top + i;
          if (yy < 0 || yy >= h) continue;
          const s0 = ((b * h + yy) * w + xa * sw - left + j) * c;
          const step = sw * c;
          let d = A + (i * kw + j) * c * m + (q - q0) * ow + xa;
          for (let ch = 0; ch < c; ch++, d += m) {
            for (let xo = 0, src = s0 + ch; xo < xb - xa; xo++, src += step) f[d + xo] = x[src];
          }
        }
      }
    }
    copyRows(dy, q0 * ow * o, m, o, f, B, O);
    run(gm, { a: A, b: B, c: C, lda: m, ldb: O, ldc: O, m: Kr, n: O, k: m, add: q0 > 0 });
  }
  if (O === o) dw.set(f.subarray(C, C + k * o));
  else for (let r = 0; r < k; r++) dw.set(f.subarray(C + r * O, C + r * O + o), r * o);
}
