import type { Matrix } from '../matrix.js';
import { transpose } from './gemm.js';
import { tridiagonalEigenvalues } from './tridiagonalEigenvalues.js';

/**
 * Singular values of M [m, n] (unsorted, min(m, n) of them, >= 0).
 *
 * Householder bidiagonalisation U^T M V = B (Golub & Kahan 1965; Golub & Van Loan sec. 5.4.8),
 * then the eigenvalues of the 2k x 2k symmetric tridiagonal matrix with zero diagonal and
 * off-diagonal (b11, b12, b22, b23, ..., bkk), which are exactly +-sigma_i (Golub & Van Loan
 * sec. 8.6.1). Unlike eig(M^T M), nothing is squared: every sigma has absolute error ~eps * ||M||,
 * which matters here because centered feature matrices are always rank deficient.
 */
export function singularValues(M: Matrix): Float64Array {
  // Work on the tall orientation so the bidiagonal is k x k with k = min(m, n).
  const A =
    M.rows >= M.cols
      ? { rows: M.rows, cols: M.cols, data: Float64Array.from(M.data) }
      : transpose(M);
  const m = A.rows;
  const n = A.cols;
  if (n === 0) return new Float64Array(0);
  const a = A.data;
  const d = new Float64Array(n); // diagonal of B
  const e = new Float64Array(Math.max(0, n - 1)); // super-diagonal of B
  const v = new Float64Array(Math.max(m, n));
  const w = new Float64Array(n);

  for (let k = 0; k < n; k++) {
    // Left reflection: zero A[k+1.., k].
    let norm2 = 0;
    for (let i = k; i < m; i++) norm2 += a[i * n + k] ** 2;
    const x0 = a[k * n + k];
    if (norm2 === x0 * x0) {
      d[k] = x0;
    } else {
      const alpha = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
      const beta = 1 / (norm2 - alpha * x0);
      v[k] = x0 - alpha;
      for (let i = k + 1; i < m; i++) v[i] = a[i * n + k];
      // w = v^T A[k.., k+1..]; then A[k.., k+1..] -= beta v w^T   (column k becomes alpha e1).
      w.fill(0, k + 1, n);
      for (let i = k; i < m; i++) {
        const vi = v[i];
        const r = i * n;
        for (let j = k + 1; j < n; j++) w[j] += vi * a[r + j];
      }
      for (let i = k; i < m; i++) {
        const s = beta * v[i];
        const r = i * n;
        for (let j = k + 1; j < n; j++) a[r + j] -= s * w[j];
      }
      d[k] = alpha;
    }
    if (k >= n - 1) continue;
    // Right reflection: zero A[k, k+2..].
    const r0 = k * n;
    norm2 = 0;
    for (let j = k + 1; j < n; j++) norm2 += a[r0 + j] ** 2;
    const y0 = a[r0 + k + 1];
    if (norm2 === y0 * y0) {
      e[k] = y0;
      continue;
    }
    const alpha = y0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    const beta = 1 / (norm2 - alpha * y0);
    v[k + 1] = y0 - alpha;
    for (let j = k + 2; j < n; j++) v[j] = a[r0 + j];
    // A[k+1.., k+1..] -= beta (A v) v^T, one contiguous row at a time.
    for (let i = k + 1; i < m; i++) {
      const r = i * n;
      let s = 0;
      for (let j = k + 1; j < n; j++) s += a[r + j] * v[j];
      s *= beta;
      for (let j = k + 1; j < n; j++) a[r + j] -= s * v[j];
    }
    e[k] = alpha;
  }

  // Golub-Kahan tridiagonal: zero diagonal, off-diagonal interleaving d and e.
  const off = new Float64Array(2 * n - 1);
  for (let k = 0; k < n; k++) {
    off[2 * k] = d[k];
    if (k < n - 1) off[2 * k + 1] = e[k];
  }
  const lambda = tridiagonalEigenvalues(new Float64Array(2 * n), off).sort();
  // The n largest of the 2n eigenvalues +-sigma_i are the singular values.
  const sigma = lambda.slice(n);
  for (let i = 0; i < n; i++) sigma[i] = Math.abs(sigma[i]);
  return sigma;
}
