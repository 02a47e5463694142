import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Matrix } from '../matrix.js';
import { allocF64, helperCount, ntProduct } from './threads.js';

/**
 * Dense float64 matrix products on row-major typed arrays. These are the hot loops of FID/KID
 * (n x d feature matrices with d up to 4096), so they are written for speed: every product is
 * reduced to C = A B^T on row-major operands (transposing once where needed) and computed by the
 * tiled, k-blocked kernel, on worker threads for large products (`threads.ts`): the WebAssembly
 * SIMD one of `wasmKernel.ts` when available, else the JavaScript one of `ntKernel.ts`.
 */

function check(cond: boolean, msg: string): void {
  if (!cond) throw new FidlabError(ErrorCode.SHAPE_MISMATCH, msg);
}

/**
 * C = A B^T, A [m, k], B [n, k] -> C [m, n]. Each output is a dot product of two contiguous rows.
 * Computed tile by tile (k-blocked, 4 x 4 register blocks: see `ntKernel.ts`), on several threads
 * above a size threshold (see `threads.ts`).
 */
export function gemmNT(A: Matrix, B: Matrix): Matrix {
  check(A.cols === B.cols, `gemmNT: inner dimensions differ (${A.cols} vs ${B.cols})`);
  const m = A.rows;
  const n = B.rows;
  const k = A.cols;
  const c = ntProduct(A.data, m, B.data, n, k, 'full', helperCount(m * n * k));
  return { rows: m, cols: n, data: c };
}

/** Dot product of x[xo .. xo+k) and y[yo .. yo+k). */
export function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, k: number): number {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  let p = 0;
  for (; p + 4 <= k; p += 4) {
    s0 += x[xo + p] * y[yo + p];
    s1 += x[xo + p + 1] * y[yo + p + 1];
    s2 += x[xo + p + 2] * y[yo + p + 2];
    s3 += x[xo + p + 3] * y[yo + p + 3];
  }
  for (; p < k; p++) s0 += x[xo + p] * y[yo + p];
  return s0 + s1 + (s2 + s3);
}

/** Transpose of a row-major matrix. */
export function transpose(A: Matrix): Matrix {
  return transposeTo(A, false);
}

/** Transpose into a fresh array, on a SharedArrayBuffer when `shared` (operands for workers). */
function transposeTo(A: Matrix, shared: boolean): Matrix {
  const { rows: m, cols: n, data: a } = A;
  const t = allocF64(m * n, shared);
  const B = 32; // tile edge: keeps both the read and the write side in cache
  for (let i0 = 0; i0 < m; i0 += B) {
    for (let j0 = 0; j0 < n; j0 += B) {
      const i1 = Math.min(i0 + B, m);
      const j1 = Math.min(j0 + B, n);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) t[j * m + i] = a[i * n + j];
    }
  }
  return { rows: n, cols: m, data: t };
}

/** C = A B, A [m, k], B [k, n]: B is transposed once so the kernel reads contiguous rows. */
export function gemmNN(A: Matrix, B: Matrix): Matrix {
  check(A.cols === B.rows, `gemmNN: inner dimensions differ (${A.cols} vs ${B.rows})`);
  const m = A.rows;
  const n = B.cols;
  const k = A.cols;
  const helpers = helperCount(m * n * k);
  const bt = transposeTo(B, helpers > 0).data;
  return { rows: m, cols: n, data: ntProduct(A.data, m, bt, n, k, 'full', helpers) };
}

/** C = A^T B, A [k, m], B [k, n]. */
export function gemmTN(A: Matrix, B: Matrix): Matrix {
  check(A.rows === B.rows, `gemmTN: inner dimensions differ (${A.rows} vs ${B.rows})`);
  const m = A.cols;
  const n = B.cols;
  const k = A.rows;
  const helpers = helperCount(m * n * k);
  const at = transposeTo(A, helpers > 0).data;
  const bt = B === A ? at : transposeTo(B, helpers > 0).data;
  return { rows: m, cols: n, data: ntProduct(at, m, bt, n, k, 'full', helpers) };
}

/**
 * C = A^T A for A [k, n] (e.g. centered features [n_samples, d] -> scatter matrix [d, d]).
 * Only tiles on or above the diagonal are computed (about half the work of a GEMM), then the
 * upper triangle is mirrored, so C is exactly symmetric.
 */
export function syrkTN(A: Matrix): Matrix {
  const n = A.cols;
  const k = A.rows;
  const helpers = helperCount((n * (n + 1) * k) / 2);
  const a = transposeTo(A, helpers > 0).data; // [n, k]: rows are A's columns, contiguous
  const c = ntProduct(a, n, a, n, k, 'upper', helpers);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) c[i * n + j] = c[j * n + i];
  return { rows: n, cols: n, data: c };
}

/**
 * C = A B^T where A [m, k] is upper trapezoidal (A[i, p] = 0 for p < i, e.g. the transpose of a
 * lower Cholesky factor): each tile of C skips the zero prefix of its rows, ~half the work when
 * m ~ k. Same kernel and threading as gemmNT.
 */
export function gemmNTUpperA(A: Matrix, B: Matrix): Matrix {
  check(A.cols === B.cols, `gemmNTUpperA: inner dimensions differ (${A.cols} vs ${B.cols})`);
  const m = A.rows;
  const n = B.rows;
  const k = A.cols;
  const helpers = helperCount((m * n * k) / 2);
  const c = ntProduct(A.data, m, B.data, n, k, 'full', helpers, (i0) => i0);
  return { rows: m, cols: n, data: c };
}

/** C = A B^T where B [n, k] is upper trapezoidal (B[j, p] = 0 for p < j); see gemmNTUpperA. */
export function gemmNTUpperB(A: Matrix, B: Matrix): Matrix {
  check(A.cols === B.cols, `gemmNTUpperB: inner dimensions differ (${A.cols} vs ${B.cols})`);
  const m = A.rows;
  const n = B.rows;
  const k = A.cols;
  const helpers = helperCount((m * n * k) / 2);
  const c = ntProduct(A.data, m, B.data, n, k, 'full', helpers, (_i0, j0) => j0);
  return { rows: m, cols: n, data: c };
}

/** C = A A^T for A [m, k] (rows contiguous, no transpose): the upper tiles, mirrored. */
export function syrkNT(A: Matrix): Matrix {
  const m = A.rows;
  const k = A.cols;
  const helpers = helperCount((m * (m + 1) * k) / 2);
  const c = ntProduct(A.data, m, A.data, m, k, 'upper', helpers);
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) c[i * m + j] = c[j * m + i];
  return { rows: m, cols: m, data: c };
}
