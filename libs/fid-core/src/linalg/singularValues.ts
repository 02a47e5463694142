import { assertFinite, type Matrix } from '../matrix.js';
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
 *
 * Deviation (data movement only, same reflections): the textbook step k makes three sweeps over
 * the trailing matrix (w = v^T A, the left rank-1 update, then the right reflection's A v and
 * rank-1 update). Here each step is a single sweep, one row at a time while the row sits in L1:
 *  - the left reflection's w = v_L^T A is not a separate pass. With v_L = A[k.., k] - alpha e1,
 *    w = g - alpha A[k, :] where g = A[k.., k]^T A[k.., :] is the Gram row of column k, and g is
 *    accumulated during the previous step's sweep from each row's final values (so is
 *    ||A[k.., k]||^2 = g[k]);
 *  - row k is updated first (it defines the right reflection), then every row i > k gets, in
 *    turn: the left update, the right reflection's dot product (same loop), the right update, and
 *    its contribution A[i, k+1] A[i, :] to the next step's g (same loop).
 * Rounding differs from the three-pass form only by regrouping the sums (~eps * ||M||).
 */
export function singularValues(M: Matrix): Float64Array {
  // An Inf would make the scale below 2^-1020 and every value 0 or NaN (silently wrong).
  assertFinite(M.data, `singularValues: ${M.rows} x ${M.cols} matrix`, M.cols);
  // Work on the tall orientation so the bidiagonal is k x k with k = min(m, n).
  const A =
    M.rows >= M.cols
      ? { rows: M.rows, cols: M.cols, data: Float64Array.from(M.data) }
      : transpose(M);
  const m = A.rows;
  const n = A.cols;
  if (n === 0) return new Float64Array(0);
  // Scale by a power of two so the largest entry is ~1 (exact: the singular values scale by the
  // same factor), as LAPACK's dgesvd does: squares of entries near 1e-155 (e.g. the rounding
  // residue of centering identical rows) would otherwise underflow inside the reflections.
  let amax = 0;
  for (let i = 0; i < A.data.length; i++) amax = Math.max(amax, Math.abs(A.data[i]));
  if (amax === 0) return new Float64Array(n);
  const scale = 2 ** Math.max(-1020, Math.min(1020, -Math.round(Math.log2(amax))));
  if (scale !== 1) for (let i = 0; i < A.data.length; i++) A.data[i] *= scale;
  const { d, e } = bidiagonalize(A.data, m, n);

  // Golub-Kahan tridiagonal: zero diagonal, off-diagonal interleaving d and e.
  const off = new Float64Array(2 * n - 1);
  for (let k = 0; k < n; k++) {
    off[2 * k] = d[k];
    if (k < n - 1) off[2 * k + 1] = e[k];
  }
  const lambda = tridiagonalEigenvalues(new Float64Array(2 * n), off).sort();
  // The n largest of the 2n eigenvalues +-sigma_i are the singular values.
  const sigma = lambda.slice(n);
  for (let i = 0; i < n; i++) sigma[i] = Math.abs(sigma[i]) / scale;
  return sigma;
}

/**
 * In-place bidiagonalisation of a [m, n] (row-major, m >= n): returns the diagonal d [n] and
 * super-diagonal e [n - 1] of B = U^T A V. One sweep over the trailing rows per step (see above).
 */
function bidiagonalize(
  a: Float64Array,
  m: number,
  n: number,
): { d: Float64Array; e: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(0, n - 1));
  const g = new Float64Array(n); // Gram row of the current column over the remaining rows
  const w = new Float64Array(n); // v_L^T A[k.., :] for the current left reflection
  const vr = new Float64Array(n); // right Householder vector (entries k+1..n)

  // g for column 0: sum_i A[i, 0] A[i, :].
  for (let i = 0; i < m; i++) {
    const r = i * n;
    const t = a[r];
    if (t !== 0) for (let j = 0; j < n; j++) g[j] += t * a[r + j];
  }
  // A remaining column (or row) with norm below eps * ||A||_F is already reduced for absolute
  // accuracy: reflecting it would only chase rounding residue down towards underflow.
  let fro2 = 0;
  for (let i = 0; i < a.length; i++) fro2 += a[i] * a[i];
  const negligible = Number.EPSILON * Number.EPSILON * fro2;

  for (let k = 0; k < n; k++) {
    const rk = k * n;
    // Left reflection H_L = I - bl v v^T with v = A[k.., k] - alpha e1: zeroes A[k+1.., k].
    const norm2 = g[k];
    const x0 = a[rk + k];
    let bl = 0; // 0: H_L is the identity (column already reduced)
    if (norm2 === x0 * x0 || norm2 <= negligible) {
      d[k] = x0;
    } else {
      const alpha = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
      bl = 1 / (norm2 - alpha * x0);
      // w = v^T A[k.., k+1..] = g - alpha A[k, :]
      for (let j = k + 1; j < n; j++) w[j] = g[j] - alpha * a[rk + j];
      // Row k: v_k = x0 - alpha.
      const s = bl * (x0 - alpha);
      for (let j = k + 1; j < n; j++) a[rk + j] -= s * w[j];
      d[k] = alpha;
    }
    if (k >= n - 1) break;

    // Right reflection H_R = I - br u u^T from the (updated) row k: zeroes A[k, k+2..].
    let rn2 = 0;
    for (let j = k + 1; j < n; j++) rn2 += a[rk + j] * a[rk + j];
    const y0 = a[rk + k + 1];
    let br = 0;
    if (rn2 === y0 * y0 || rn2 <= negligible) {
      e[k] = y0;
    } else {
      const alpha = y0 >= 0 ? -Math.sqrt(rn2) : Math.sqrt(rn2);
      br = 1 / (rn2 - alpha * y0);
      vr[k + 1] = y0 - alpha;
      for (let j = k + 2; j < n; j++) vr[j] = a[rk + j];
      e[k] = alpha;
    }

    // One sweep over rows k+1..m: left update, right reflection, next step's Gram row.
    const k1 = k + 1;
    g.fill(0, k1, n);
    for (let i = k1; i < m; i++) {
      const r = i * n;
      // Left update a[i, j] -= bl v_i w_j (v_i = A[i, k]), fused with u . a[i, :].
      const sl = bl * a[r + k];
      let s0 = 0;
      let s1 = 0;
      if (sl !== 0) {
        let j = k1;
        for (; j + 1 < n; j += 2) {
          const p = a[r + j] - sl * w[j];
          const q = a[r + j + 1] - sl * w[j + 1];
          a[r + j] = p;
          a[r + j + 1] = q;
          s0 += p * vr[j];
          s1 += q * vr[j + 1];
        }
        if (j < n) {
          const p = a[r + j] - sl * w[j];
          a[r + j] = p;
          s0 += p * vr[j];
        }
      } else if (br !== 0) {
        let j = k1;
        for (; j + 1 < n; j += 2) {
          s0 += a[r + j] * vr[j];
          s1 += a[r + j + 1] * vr[j + 1];
        }
        if (j < n) s0 += a[r + j] * vr[j];
      }
      // Right update a[i, j] -= sr u_j, fused with g += a[i, k+1] a[i, :].
      const sr = br * (s0 + s1);
      const t = a[r + k1] - sr * vr[k1];
      if (sr !== 0) {
        let j = k1;
        for (; j + 1 < n; j += 2) {
          const p = a[r + j] - sr * vr[j];
          const q = a[r + j + 1] - sr * vr[j + 1];
          a[r + j] = p;
          a[r + j + 1] = q;
          g[j] += t * p;
          g[j + 1] += t * q;
        }
        if (j < n) {
          const p = a[r + j] - sr * vr[j];
          a[r + j] = p;
          g[j] += t * p;
        }
      } else if (t !== 0) {
        for (let j = k1; j < n; j++) g[j] += t * a[r + j];
      }
    }
  }
  return { d, e };
}
