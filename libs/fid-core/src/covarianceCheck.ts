import { ErrorCode, FidlabError } from '@fidlab/base';
import { pivotedCholeskyLower } from './linalg/pivotedCholesky.js';
import { symmetricEigenvalues } from './linalg/symmetricEigenvalues.js';
import type { Matrix } from './matrix.js';

/**
 * Relative asymmetry allowed in a covariance: |S_ij - S_ji| <= SYMMETRY_RTOL * scale_ij with
 * scale_ij = max(|S_ij|, |S_ji|, sqrt(|S_ii S_jj|)) (the bound on |S_ij| for a PSD matrix).
 * np.cov is exactly symmetric; 1e-5 leaves room for a float32 covariance accumulated in two orders
 * (float32 rounding is 6e-8 relative) and still refuses a matrix that is not a covariance at all.
 */
export const SYMMETRY_RTOL = 1e-5;

/**
 * Negative eigenvalues a covariance may have from rounding: lambda >= -PSD_RTOL * tr(S). Storing S
 * in float32 perturbs every eigenvalue by at most ||E||_2 <= ||E||_F ~ 6e-8 ||S||_F <= 6e-8 tr(S)
 * (S PSD); 1e-6 leaves a 16x margin. Eigenvalues within it are clipped to 0 by the FID (and
 * reported); beyond it the matrix is refused: its square-root term would silently become 0.
 */
export const PSD_RTOL = 1e-6;

export interface CovarianceCheck {
  /** The largest relative asymmetry found (0 for an exactly symmetric matrix). */
  asymmetry: number;
  /** The allowed negative eigenvalue magnitude: PSD_RTOL * tr(S). */
  psdTolerance: number;
}

/**
 * Refuses a matrix that cannot be a covariance: not square, not symmetric within SYMMETRY_RTOL,
 * or with an eigenvalue below -PSD_RTOL * tr(S). `what` names it in the message (a file, "mu" of
 * a set). Cost: one pivoted Cholesky of S + tol I (d^3 / 3); eigenvalues only when it fails, to
 * name the worst one.
 */
export function checkCovariance(S: Matrix, what: string): CovarianceCheck {
  const d = S.rows;
  if (S.cols !== d) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `${what}: a covariance must be square, got ${S.rows} x ${S.cols}`,
    );
  }
  const s = S.data;
  let worst = 0;
  let wi = 0;
  let wj = 0;
  let trace = 0;
  for (let i = 0; i < d; i++) {
    const sii = s[i * d + i];
    trace += sii;
    for (let j = i + 1; j < d; j++) {
      const a = s[i * d + j];
      const b = s[j * d + i];
      if (a === b) continue;
      const scale = Math.max(Math.abs(a), Math.abs(b), Math.sqrt(Math.abs(sii * s[j * d + j])));
      const rel = Math.abs(a - b) / scale;
      if (rel > worst) {
        worst = rel;
        wi = i;
        wj = j;
      }
    }
  }
  if (worst > SYMMETRY_RTOL) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what}: covariance is not symmetric: entry (${wi}, ${wj}) is ${s[wi * d + wj]} but (${wj}, ${wi}) is ${s[wj * d + wi]} ` +
        `(relative difference ${worst.toExponential(2)}, tolerance ${SYMMETRY_RTOL.toExponential(0)})`,
    );
  }
  let minDiagonal = Infinity;
  for (let i = 0; i < d; i++) minDiagonal = Math.min(minDiagonal, s[i * d + i]);
  const tol = PSD_RTOL * Math.max(trace, 0);
  if (d > 0 && (trace < 0 || minDiagonal < -tol || !psdWithin(S, tol))) {
    const lambda = symmetricEigenvalues(S);
    const min = lambda[0];
    if (trace < 0 || min < -tol) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${what}: covariance is not positive semi-definite: smallest eigenvalue ${min.toExponential(3)} ` +
          `is below the rounding tolerance -${tol.toExponential(2)} (${PSD_RTOL.toExponential(0)} x trace ${trace.toExponential(3)})`,
      );
    }
  }
  return { asymmetry: worst, psdTolerance: tol };
}

/** Whether S + tol I has a full-rank Cholesky factor (then every eigenvalue of S is >= -tol, up to rounding). */
function psdWithin(S: Matrix, tol: number): boolean {
  const d = S.rows;
  // The shift is what allows rounding-size negative eigenvalues; a tiny floor keeps an all-zero
  // covariance (constant features) acceptable.
  const shift = tol > 0 ? tol : Number.MIN_VALUE;
  const shifted = Float64Array.from(S.data);
  for (let i = 0; i < d; i++) shifted[i * d + i] += shift;
  return pivotedCholeskyLower({ rows: d, cols: d, data: shifted }, 0).rank === d;
}
