import { ErrorCode, FidlabError } from '../errors.js';
import type { Matrix } from '../matrix.js';

/**
 * Dense float64 matrix products on row-major typed arrays. These are the hot loops of FID/KID
 * (n x d feature matrices with d up to 4096), so they are written for speed: register blocks of
 * 4 x 4 outputs (16 accumulators the JIT keeps in registers) over contiguous rows.
 */

function check(cond: boolean, msg: string): void {
  if (!cond) throw new FidlabError(ErrorCode.SHAPE_MISMATCH, msg);
}

/** C = A B^T, A [m, k], B [n, k] -> C [m, n]. Each output is a dot product of two contiguous rows. */
export function gemmNT(A: Matrix, B: Matrix): Matrix {
  check(A.cols === B.cols, `gemmNT: inner dimensions differ (${A.cols} vs ${B.cols})`);
  const m = A.rows;
  const n = B.rows;
  const k = A.cols;
  const a = A.data;
  const b = B.data;
  const c = new Float64Array(m * n);
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const b0 = j * k;
      const b1 = b0 + k;
      const b2 = b1 + k;
      const b3 = b2 + k;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0;
      let c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0;
      let c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p],
          x1 = a[a1 + p],
          x2 = a[a2 + p],
          x3 = a[a3 + p];
        const y0 = b[b0 + p],
          y1 = b[b1 + p],
          y2 = b[b2 + p],
          y3 = b[b3 + p];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      let o = i * n + j;
      c[o] = c00;
      c[o + 1] = c01;
      c[o + 2] = c02;
      c[o + 3] = c03;
      o += n;
      c[o] = c10;
      c[o + 1] = c11;
      c[o + 2] = c12;
      c[o + 3] = c13;
      o += n;
      c[o] = c20;
      c[o + 1] = c21;
      c[o + 2] = c22;
      c[o + 3] = c23;
      o += n;
      c[o] = c30;
      c[o + 1] = c31;
      c[o + 2] = c32;
      c[o + 3] = c33;
    }
    for (; j < n; j++) {
      for (let r = 0; r < 4; r++) c[(i + r) * n + j] = dot(a, (i + r) * k, b, j * k, k);
    }
  }
  for (; i < m; i++) {
    for (let j = 0; j < n; j++) c[i * n + j] = dot(a, i * k, b, j * k, k);
  }
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
  const { rows: m, cols: n, data: a } = A;
  const t = new Float64Array(m * n);
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
  return gemmNT(A, transpose(B));
}

/** C = A^T B, A [k, m], B [k, n]. */
export function gemmTN(A: Matrix, B: Matrix): Matrix {
  check(A.rows === B.rows, `gemmTN: inner dimensions differ (${A.rows} vs ${B.rows})`);
  return gemmNT(transpose(A), transpose(B));
}

/**
 * C = A^T A for A [k, n] (e.g. centered features [n_samples, d] -> scatter matrix [d, d]).
 * Only blocks on or above the diagonal are computed (half the work of a GEMM), then mirrored.
 */
export function syrkTN(A: Matrix): Matrix {
  const At = transpose(A); // [n, k]: rows are A's columns, contiguous
  const n = At.rows;
  const k = At.cols;
  const a = At.data;
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i += 4) {
    const ih = Math.min(4, n - i);
    for (let j = i; j < n; j += 4) {
      const jh = Math.min(4, n - j);
      if (ih === 4 && jh === 4) {
        block4x4(a, i * k, j * k, k, c, i * n + j, n);
      } else {
        for (let r = 0; r < ih; r++) {
          for (let s = 0; s < jh; s++)
            c[(i + r) * n + j + s] = dot(a, (i + r) * k, a, (j + s) * k, k);
        }
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) c[i * n + j] = c[j * n + i];
  return { rows: n, cols: n, data: c };
}

/** c[o..] (4 x 4 block, row stride ldc) = rows x[a0..a0+4k) . rows y[b0..b0+4k)^T, all rows length k. */
function block4x4(
  x: Float64Array,
  a0: number,
  b0: number,
  k: number,
  c: Float64Array,
  o: number,
  ldc: number,
): void {
  const a1 = a0 + k,
    a2 = a1 + k,
    a3 = a2 + k;
  const b1 = b0 + k,
    b2 = b1 + k,
    b3 = b2 + k;
  let c00 = 0,
    c01 = 0,
    c02 = 0,
    c03 = 0;
  let c10 = 0,
    c11 = 0,
    c12 = 0,
    c13 = 0;
  let c20 = 0,
    c21 = 0,
    c22 = 0,
    c23 = 0;
  let c30 = 0,
    c31 = 0,
    c32 = 0,
    c33 = 0;
  for (let p = 0; p < k; p++) {
    const x0 = x[a0 + p],
      x1 = x[a1 + p],
      x2 = x[a2 + p],
      x3 = x[a3 + p];
    const y0 = x[b0 + p],
      y1 = x[b1 + p],
      y2 = x[b2 + p],
      y3 = x[b3 + p];
    c00 += x0 * y0;
    c01 += x0 * y1;
    c02 += x0 * y2;
    c03 += x0 * y3;
    c10 += x1 * y0;
    c11 += x1 * y1;
    c12 += x1 * y2;
    c13 += x1 * y3;
    c20 += x2 * y0;
    c21 += x2 * y1;
    c22 += x2 * y2;
    c23 += x2 * y3;
    c30 += x3 * y0;
    c31 += x3 * y1;
    c32 += x3 * y2;
    c33 += x3 * y3;
  }
  c[o] = c00;
  c[o + 1] = c01;
  c[o + 2] = c02;
  c[o + 3] = c03;
  o += ldc;
  c[o] = c10;
  c[o + 1] = c11;
  c[o + 2] = c12;
  c[o + 3] = c13;
  o += ldc;
  c[o] = c20;
  c[o + 1] = c21;
  c[o + 2] = c22;
  c[o + 3] = c23;
  o += ldc;
  c[o] = c30;
  c[o + 1] = c31;
  c[o + 2] = c32;
  c[o + 3] = c33;
}
