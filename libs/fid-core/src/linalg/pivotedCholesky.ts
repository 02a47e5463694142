import type { Matrix } from '../matrix.js';
import { helperCount, ntProduct } from './threads.js';

/** Panel width of the blocked factorisation. */
const NB = 64;

/**
 * Cholesky factorisation with symmetric (diagonal) pivoting of a symmetric positive
 * semi-definite matrix: S ~= F F^T with F [d, rank] (Higham, "Accuracy and Stability of Numerical
 * Algorithms", 2nd ed., ch. 10.3). Pivoting on the largest remaining diagonal makes it rank
 * revealing: it stops when every remaining diagonal is below `tol`, which is where a covariance
 * estimated from n < d samples, or with constant features, runs out of rank.
 *
 * F's rows are in S's original order (the permutation is undone), so F F^T approximates S itself.
 */
export function pivotedCholesky(
  S: Matrix,
  tol?: number,
): { factor: Matrix; rank: number; maxDiagonal: number } {
  const d = S.rows;
  const { L, perm, rank, maxDiagonal } = pivotedCholeskyLower(S, tol);
  const F = new Float64Array(d * rank);
  for (let i = 0; i < d; i++) {
    F.set(L.subarray(i * d, i * d + Math.min(rank, i + 1)), perm[i] * rank);
  }
  return { factor: { rows: d, cols: rank, data: F }, rank, maxDiagonal };
}

/**
 * The same factorisation in pivoted order: P^T S P ~= L L^T with L lower trapezoidal [d, rank],
 * returned row-major in a [d, d] array (L[i * d + j], j < rank; entries j > i are 0) with
 * perm[i] = the original index of pivoted row i. Callers that exploit the triangle use this.
 */
export function pivotedCholeskyLower(
  S: Matrix,
  tol?: number,
): { L: Float64Array; perm: Int32Array; rank: number; maxDiagonal: number } {
  const d = S.rows;
  const s = S.data;
  const perm = new Int32Array(d);
  for (let i = 0; i < d; i++) perm[i] = i;
  // Remaining (Schur complement) diagonal, in pivoted order.
  const diag = new Float64Array(d);
  let maxDiagonal = 0;
  for (let i = 0; i < d; i++) {
    diag[i] = s[i * d + i];
    maxDiagonal = Math.max(maxDiagonal, diag[i]);
  }
  // Higham's suggested stopping tolerance: d * eps * max diagonal.
  const stop = tol ?? d * Number.EPSILON * maxDiagonal;
  // L in pivoted order, row-major [d, d]; row i holds L[i, 0..j) for the columns done so far, so
  // the inner products below are over contiguous row prefixes.
  const L = new Float64Array(d * d);
  // Blocked as LAPACK dpstrf: columns are computed in panels of NB; within a panel each column
  // subtracts only the panel's earlier columns from W, the Schur complement as of the panel's
  // start, and after the panel W takes all NB columns at once (W -= L2 L2^T, a threaded GEMM).
  // W stays in S's original index order (row perm[i], column perm[j]): pivoting swaps no data.
  const W = Float64Array.from(s);
  let rank = 0;
  panels: for (let j0 = 0; j0 < d; j0 += NB) {
    const j1 = Math.min(j0 + NB, d);
    for (let j = j0; j < j1; j++) {
      let q = j;
      for (let i = j + 1; i < d; i++) if (diag[i] > diag[q]) q = i;
      if (!(diag[q] > stop)) break panels;
      if (q !== j) {
        swap(perm, j, q);
        swap(diag, j, q);
        // Swap rows j and q of L (their first j entries).
        for (let k = 0; k < j; k++) {
          const t = L[j * d + k];
          L[j * d + k] = L[q * d + k];
          L[q * d + k] = t;
        }
      }
      const ljj = Math.sqrt(diag[j]);
      L[j * d + j] = ljj;
      const wj = perm[j] * d; // row perm[j] of W = column perm[j] (W symmetric)
      const rj = j * d;
      for (let i = j + 1; i < d; i++) {
        const ri = i * d;
        let acc = W[wj + perm[i]];
        let k = j0;
        for (; k + 1 < j; k += 2) acc -= L[ri + k] * L[rj + k] + L[ri + k + 1] * L[rj + k + 1];
        if (k < j) acc -= L[ri + k] * L[rj + k];
        const lij = acc / ljj;
        L[ri + j] = lij;
        diag[i] -= lij * lij;
      }
      rank = j + 1;
    }
    const m = d - j1;
    if (m === 0) break;
    // W[perm r, perm c] -= sum_{k in panel} L[r, k] L[c, k] for the rows r, c after the panel.
    const kb = j1 - j0;
    const P = new Float64Array(m * kb);
    for (let r = 0; r < m; r++) P.set(L.subarray((j1 + r) * d + j0, (j1 + r) * d + j1), r * kb);
    const U = ntProduct(P, m, P, m, kb, 'full', helperCount(m * m * kb));
    for (let r = 0; r < m; r++) {
      const wr = perm[j1 + r] * d;
      const ur = r * m;
      for (let c = 0; c < m; c++) W[wr + perm[j1 + c]] -= U[ur + c];
    }
  }
  return { L, perm, rank, maxDiagonal };
}

function swap(a: Float64Array | Int32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
