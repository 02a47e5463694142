import { ErrorCode, FidlabError } from '@fidlab/base';

/** Iterations allowed per eigenvalue before giving up; implicit QL needs 2-3 on average. */
const MAX_QL_ITERATIONS = 60;

/**
 * Eigenvalues of the symmetric tridiagonal matrix with diagonal `diag` [n] and sub-diagonal `off`
 * [n - 1], by the implicit QL algorithm with Wilkinson shifts (Golub & Van Loan, "Matrix
 * Computations", 4th ed., sec. 8.3; Bowdler, Martin, Reinsch & Wilkinson 1968). Values only:
 * O(n^2) work. Inputs are not modified. Returned unsorted.
 *
 * Deviation: sqrt(a^2 + b^2) replaces Math.hypot (which is ~5x slower in V8 and dominated the
 * run time) wherever the sum of squares neither overflows nor underflows; see `hypot`.
 */
export function tridiagonalEigenvalues(diag: Float64Array, off: Float64Array): Float64Array {
  const n = diag.length;
  // A NaN never passes the deflation test below (every QL sweep then runs to
  // MAX_QL_ITERATIONS and fails as "did not converge"), and an Inf makes the threshold
  // infinite so that everything deflates at once and the input comes back as the answer.
  // Neither says what went wrong, so refuse such input up front, naming the entry.
  assertFiniteEntries(diag, n, 'diagonal', n);
  assertFiniteEntries(off, Math.max(0, n - 1), 'off-diagonal', n);
  const d = Float64Array.from(diag);
  // e[i] couples d[i] and d[i+1]; e[n-1] = 0 is a sentinel.
  const e = new Float64Array(n);
  e.set(off.subarray(0, Math.max(0, n - 1)));
  // Deflation threshold: an off-diagonal below eps * ||T||_inf moves eigenvalues by at most that
  // much (absolute accuracy, what FID needs). A purely relative test |e| <= eps (|d_m| + |d_m+1|)
  // never fires on the zero-diagonal Golub-Kahan matrices used for singular values.
  let norm = 0;
  for (let i = 0; i < n; i++)
    norm = Math.max(norm, Math.abs(d[i]) + Math.abs(e[i]) + (i > 0 ? Math.abs(e[i - 1]) : 0));
  const deflate = Number.EPSILON * norm;

  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      // Find the first negligible off-diagonal at or after l: the block l..m is unreduced.
      let m = l;
      for (; m < n - 1; m++) {
        if (Math.abs(e[m]) <= deflate) break;
      }
      if (m === l) break;
      if (++iter > MAX_QL_ITERATIONS) {
        throw new FidlabError(
          ErrorCode.NUMERIC_FAILURE,
          `tridiagonal QL did not converge for eigenvalue ${l} of ${n}`,
        );
      }
      // Wilkinson shift from the leading 2x2 block.
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the rotation split the matrix; deflate and restart this eigenvalue.
          d[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return d;
}

function assertFiniteEntries(a: Float64Array, count: number, what: string, n: number): void {
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(a[i])) {
      throw new FidlabError(
        ErrorCode.NOT_FINITE,
        `tridiagonal QL: ${what} entry ${i} of the ${n} x ${n} matrix is ${a[i]}`,
      );
    }
  }
}

/**
 * sqrt(a^2 + b^2). Falls back to Math.hypot (scaled, overflow-free) only when the plain sum of
 * squares is outside [1e-290, 1e290], where it could overflow or lose bits to underflow; inside,
 * the result is within an ulp or so of Math.hypot's.
 */
function hypot(a: number, b: number): number {
  const s = a * a + b * b;
  return s >= 1e-290 && s <= 1e290 ? Math.sqrt(s) : Math.hypot(a, b);
}
