// Convolutions as im2col + the threaded sgemm (../sgemm): the forward pass, the input gradient
// (also a transposed convolution's forward pass) and the filter gradient, NHWC, any stride and
// padding, no dilation. Each copies its operands from the tfjs wasm heap into the sgemm arena,
// lays them out as the GEMM wants them with gathers over cached index tables (conv-index.ts:
// im2col rows, im2col transposed, col2im as a gather-sum), runs the GEMM on every core and copies
// the result back. Work is cut into chunks (whole images, or rows of one) so that the im2col
// buffer stays under convGemmTuning.chunkFloats whatever the image size.
import * as tf from '@tensorflow/tfjs';
import { SGEMM_PAD } from '../sgemm/kernel.js';
import { sgemm, type Sgemm } from '../sgemm/threads.js';
import {
  chunkPixels,
  chunks,
  col2imBand,
  col2imFanIn,
  col2imRuns,
  col2imSum,
  im2colCols,
  im2colRows,
  indexCache,
  padded,
  type Chunk,
} from './conv-index.js';

export const convGemmTuning = {
  /** Largest im2col chunk, in floats (16 MB). */
  chunkFloats: 1 << 22,
  /** GEMMs under this many flops run on the calling thread only (waking a worker costs more). */
  parallelFlops: 1 << 20,
  /** Gathers of fewer elements run on the calling thread only. */
  parallelGather: 1 << 15,
  /**
   * 3x3, stride 1 convolutions (forward and input gradient) by Winograd F(m x m, 3x3) with this
   * output tile side m (conv-winograd.ts): 4, 2, or 0 for im2col + GEMM.
   */
  winograd: 4 as 0 | 2 | 4,
  /** Most floats of padded input + output a Winograd convolution holds at once (256 MB). */
  batchFloats: 1 << 26,
};

export const up = (x: number, to: number) => Math.ceil(x / to) * to;

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

/** Chunks whose scratch (floatsPerPixel per output pixel) fits convGemmTuning.chunkFloats. */
const cut = (g: ConvGeom, floatsPerPixel: number) =>
  chunks(g, Math.max(1, Math.floor(convGemmTuning.chunkFloats / floatsPerPixel)));

/** First output pixel of a chunk (its rows are contiguous in NHWC). */
const firstPixel = (g: ConvGeom, c: Chunk) => (c.b0 * g.oh + c.y0) * g.ow;

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

/**
 * x copied into the arena at X as zero-padded Hp x Wp images, each image at (top, left): by
 * default the padding conv-index.ts's tables expect. Zeros are written only where there is no
 * pixel (the copy is serial and memory-bound).
 */
export function copyPadded(
  g: ConvGeom,
  x: Float32Array,
  f: Float32Array,
  X: number,
  { Hp, Wp } = padded(g),
): void {
  const { n, h, w, c } = g;
  const row = Wp * c;
  for (let b = 0; b < n; b++) {
    const X0 = X + b * Hp * row;
    f.fill(0, X0, X0 + g.top * row);
    f.fill(0, X0 + (g.top + h) * row, X0 + Hp * row);
    for (let y = 0; y < h; y++) {
      const src = (b * h + y) * w * c;
      const dst = X0 + (y + g.top) * row;
      f.fill(0, dst, dst + g.left * c);
      f.set(x.subarray(src, src + w * c), dst + g.left * c);
      f.fill(0, dst + (g.left + w) * c, dst + row);
    }
  }
}

const paddedImage = (g: ConvGeom) => {
  const { Hp, Wp } = padded(g);
  return Hp * Wp * g.c;
};

/** Scratch regions laid out one after another from `start`, each 16-float aligned. */
export function layout(start: number, sizes: number[]): { at: number[]; end: number } {
  const at: number[] = [];
  let p = start;
  for (const s of sizes) {
    at.push(p);
    p += up(s, 16);
  }
  return { at, end: p };
}

const gatherParallel = (n: number) => n >= convGemmTuning.parallelGather;

/** y[n, oh, ow, o] = conv(x, filter): out is a preallocated view of the output. */
export function convForward(g: ConvGeom, x: Float32Array, filter: Float32Array, out: Float32Array) {
  const { o } = g;
  const k = g.kh * g.kw * g.c;
  const N = up(o, SGEMM_PAD.cols);
  const parts = cut(g, 2 * k);
  const Ms = parts.map((c) => up(chunkPixels(g, c), SGEMM_PAD.rows));
  const maxM = Math.max(...Ms);
  // 1x1, stride 1, no padding: im2col is the input itself.
  const pointwise =
    g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0;
  const tables = pointwise ? [] : indexCache.place(parts.map((c) => im2colRows(g, c)));
  const img = paddedImage(g);
  const {
    at: [X, B, A, C],
    end,
  } = layout(indexCache.end, [pointwise ? 0 : g.n * img, k * N, maxM * k, maxM * N]);
  const gm = sgemm();
  gm.reserve(end);
  const f = gm.f32();
  if (!pointwise) copyPadded(g, x, f, X);
  copyRows(filter, 0, k, o, f, B, N);
  parts.forEach((c, t) => {
    const m = chunkPixels(g, c);
    const M = Ms[t];
    const p0 = firstPixel(g, c);
    if (pointwise) f.set(x.subarray(p0 * k, (p0 + m) * k), A);
    else gm.copyRuns(A, X + c.b0 * img, tables[t], g.kw * g.c, m * g.kh, gatherParallel(m * k));
    f.fill(0, A + m * k, A + M * k);
    run(gm, { a: A, b: B, c: C, lda: k, ldb: N, ldc: N, m: M, n: N, k });
    if (N === o) out.set(f.subarray(C, C + m * o), p0 * o);
    else for (let r = 0; r < m; r++) out.set(f.subarray(C + r * N, C + r * N + o), (p0 + r) * o);
  });
}

/**
 * dx[n, h, w, c] from dy[n, oh, ow, o] and filter[kh, kw, c, o]: cols = dy W^T (one GEMM per
 * chunk), then col2im sums each input element's columns. With more filter taps x channels than
 * pixels (deep layers) the GEMM is done transposed, cols^T = W dy^T, so that the small operand
 * (dy) is the one transposed, not the filter.
 */
export function convBackpropInput(
  g: ConvGeom,
  dy: Float32Array,
  filter: Float32Array,
  dx: Float32Array,
) {
  const { o } = g;
  const k = g.kh * g.kw * g.c;
  const transposed = k > g.n * g.oh * g.ow;
  const K = up(k, transposed ? SGEMM_PAD.rows : SGEMM_PAD.cols);
  const r = col2imFanIn(g);
  const parts = cut(g, K + o + r);
  const Ms = parts.map((c) => up(chunkPixels(g, c), transposed ? SGEMM_PAD.cols : SGEMM_PAD.rows));
  const maxM = Math.max(...Ms);
  // col2im by channel runs where they are contiguous in the GEMM result and 4-float aligned.
  const runs = !transposed && g.c % 4 === 0;
  const cSize = maxM * K; // zeros (one float, or one run) sit right after the largest C
  const tables = indexCache.place(
    parts.map((c, t) =>
      transposed
        ? col2imSum(g, c, 1, Ms[t], 4 * cSize)
        : runs
          ? col2imRuns(g, c, K, 4 * cSize)
          : col2imSum(g, c, K, 1, 4 * cSize),
    ),
  );
  const {
    at: [W, D, C, DX],
    end,
  } = layout(indexCache.end, [o * K, maxM * o, cSize + g.c, dx.length]);
  const gm = sgemm();
  gm.reserve(end);
  const f = gm.f32();
  // The filter as is [K, o] (transposed) or W^T [o, K], zero-padded.
  if (transposed) {
    f.set(filter.subarray(0, k * o), W);
    f.fill(0, W + k * o, W + K * o);
  } else {
    f.fill(0, W, W + o * K);
    for (let p = 0; p < k; p++) for (let q = 0; q < o; q++) f[W + q * K + p] = filter[p * o + q];
  }
  f.fill(0, C + cSize, C + cSize + g.c);
  f.fill(0, DX, DX + dx.length);
  parts.forEach((c, t) => {
    const m = chunkPixels(g, c);
    const M = Ms[t];
    const p0 = firstPixel(g, c);
    if (transposed) {
      f.fill(0, D, D + o * M);
      for (let mi = 0, src = p0 * o; mi < m; mi++) {
        for (let q = 0; q < o; q++) f[D + q * M + mi] = dy[src++];
      }
      run(gm, { a: W, b: D, c: C, lda: o, ldb: M, ldc: M, m: K, n: M, k: o });
    } else {
      f.set(dy.subarray(p0 * o, (p0 + m) * o), D);
      f.fill(0, D + m * o, D + M * o);
      run(gm, { a: D, b: W, c: C, lda: o, ldb: K, ldc: K, m: M, n: K, k: o });
    }
    const band = col2imBand(g, c);
    const par = gatherParallel(band.length * r);
    if (runs) gm.gatherSumRuns(DX + band.start, C, tables[t], r, g.c, band.length / g.c, par);
    else gm.gatherSum(DX + band.start, C, tables[t], r, band.length, par);
  });
  dx.set(f.subarray(DX, DX + dx.length));
}

/**
 * dW[kh, kw, c, o] = sum over pixels of im2col(x)^T dy: the transposed im2col of each chunk is
 * A [k, m], dy's rows B [m, o]; chunks accumulate into C.
 */
export function convBackpropFilter(
  g: ConvGeom,
  x: Float32Array,
  dy: Float32Array,
  dw: Float32Array,
) {
  const { o } = g;
  const k = g.kh * g.kw * g.c;
  const Kr = up(k, SGEMM_PAD.rows);
  const O = up(o, SGEMM_PAD.cols);
  const parts = cut(g, 2 * Kr + O);
  const maxM = Math.max(...parts.map((c) => chunkPixels(g, c)));
  const tables = indexCache.place(parts.map((c) => im2colCols(g, c)));
  const img = paddedImage(g);
  const {
    at: [X, C, A, B],
    end,
  } = layout(indexCache.end, [g.n * img, Kr * O, Kr * maxM, maxM * O]);
  const gm = sgemm();
  gm.reserve(end);
  const f = gm.f32();
  copyPadded(g, x, f, X);
  parts.forEach((c, t) => {
    const m = chunkPixels(g, c);
    gm.gather(A, X + c.b0 * img, tables[t], k * m, gatherParallel(k * m));
    f.fill(0, A + k * m, A + Kr * m);
    copyRows(dy, firstPixel(g, c) * o, m, o, f, B, O);
    run(gm, { a: A, b: B, c: C, lda: m, ldb: O, ldc: O, m: Kr, n: O, k: m, add: t > 0 });
  });
  if (O === o) dw.set(f.subarray(C, C + k * o));
  else for (let r = 0; r < k; r++) dw.set(f.subarray(C + r * O, C + r * O + o), r * o);
}
