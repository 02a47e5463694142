import type { Matrix } from '../matrix.js';

/**
 * Householder reduction of a symmetric matrix to tridiagonal form, Q^T A Q = T (Golub & Van Loan
 * sec. 8.3.1), keeping only T: `diag` [n] and `off` [n - 1]. Orthogonal similarity preserves the
 * eigenvalues, and T's are found in O(n^2) by `tridiagonalEigenvalues`.
 *
 * The working copy is kept full (both triangles) so that both the matrix-vector product and the
 * rank-2 update run along contiguous rows; only A's upper triangle is read.
 */
export function tridiagonalize(A: Matrix): { diag: Float64Array; off: Float64Array } {
  const n = A.rows;
  const a = new Float64Array(n * n);
  // Symmetrise from the upper triangle so tiny asymmetries in the input cannot leak in.
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const x = A.data[i * n + j];
      a[i * n + j] = x;
      a[j * n + i] = x;
    }
  }
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  const v = new Float64Array(n);
  const p = new Float64Array(n);

  for (let k = 0; k < n - 2; k++) {
    const row = k * n;
    // v = Householder vector that zeroes a[k, k+2..n) (row k = column k by symmetry).
    let alpha2 = 0;
    for (let j = k + 1; j < n; j++) alpha2 += a[row + j] * a[row + j];
    const x0 = a[row + k + 1];
    if (alpha2 === x0 * x0) {
      // Already tridiagonal in this column: nothing to annihilate.
      diag[k] = a[row + k];
      off[k] = x0;
      continue;
    }
    const alpha = x0 >= 0 ? -Math.sqrt(alpha2) : Math.sqrt(alpha2);
    diag[k] = a[row + k];
    off[k] = alpha;
    // H = I - beta v v^T with v = x - alpha e1, beta = 2 / (v.v) = 1 / (alpha^2 - alpha x0).
    const beta = 1 / (alpha2 - alpha * x0);
    v[k + 1] = x0 - alpha;
    for (let j = k + 2; j < n; j++) v[j] = a[row + j];

    // p = beta * A22 v over the trailing block (rows/cols k+1..n).
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      let s0 = 0;
      let s1 = 0;
      let j = k + 1;
      for (; j + 1 < n; j += 2) {
        s0 += a[ri + j] * v[j];
        s1 += a[ri + j + 1] * v[j + 1];
      }
      if (j < n) s0 += a[ri + j] * v[j];
      p[i] = beta * (s0 + s1);
      pv += p[i] * v[i];
    }
    // w = p - (beta/2)(p.v) v;  A22 <- A22 - v w^T - w v^T.
    const half = 0.5 * beta * pv;
    for (let i = k + 1; i < n; i++) p[i] -= half * v[i];
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = v[i];
      const wi = p[i];
      for (let j = k + 1; j < n; j++) a[ri + j] -= vi * p[j] + wi * v[j];
    }
  }
  if (n >= 2) {
    diag[n - 2] = a[(n - 2) * n + n - 2];
    off[n - 2] = a[(n - 2) * n + n - 1];
  }
  if (n >= 1) diag[n - 1] = a[n * n - 1];
  return { diag, off };
}
