import { ErrorCode, FidlabError } from './errors.js';
import type { FeatureStats } from './featureStats.js';
import { featureStats } from './featureStats.js';
import { gemmNT, transpose } from './linalg/gemm.js';
import { nuclearNorm, sumSqrtEigenvalues } from './linalg/nuclearNorm.js';
import { pivotedCholesky } from './linalg/pivotedCholesky.js';
import { assertFinite, center, type Matrix } from './matrix.js';

/**
 * How tr sqrt(S1 S2) was computed:
 * - `lowrank`: from raw features, as a nuclear norm of an n1 x n2 matrix (no d x d matrix at all);
 * - `full`: from raw features via d x d covariances (chosen when the sets outnumber the dimension);
 * - `stats`: from (mu, sigma) pairs, e.g. pytorch-fid `.npz` statistics files.
 */
export type FidMethod = 'lowrank' | 'full' | 'stats';

export interface FrechetResult {
  fid: number;
  method: FidMethod;
  n1: number;
  n2: number;
  dims: number;
  /** ||mu1 - mu2||^2 */
  meanTerm: number;
  /** tr S1 + tr S2 - 2 tr sqrt(S1 S2) */
  covarianceTerm: number;
  /** tr sqrt(S1 S2) */
  traceSqrt: number;
  /** Eigenvalues that rounding made negative (a PSD matrix has none); clipped to 0 before sqrt. */
  clippedEigenvalues: number;
  /** The most negative of them (0 when none). */
  minEigenvalue: number;
}

/**
 * Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, "GANs
 * trained by a two time-scale update rule"; the FID of pytorch-fid):
 *
 *   d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2).
 *
 * Deviation from pytorch-fid: it takes a general matrix square root of S1 S2 (scipy's sqrtm, a
 * complex Schur decomposition that needs an epsilon fallback when S1 S2 is near singular). Here
 * only symmetric problems are solved. With Ci = (Xi - mui)^T / sqrt(ni - 1), Si = Ci Ci^T and
 * the eigenvalues of S1 S2 are the squared singular values of C1^T C2, so
 *   tr sqrt(S1 S2) = ||C1^T C2||_* (nuclear norm),
 * an n1 x n2 problem (`lowrank`). For n > d the same identity is used with a rank-revealing
 * Cholesky factor F of S1 (S1 = F F^T): tr sqrt(S1 S2) = sum sqrt(eig(F^T S2 F)) (`full`/`stats`).
 */
export function frechetDistance(
  x: Matrix,
  y: Matrix,
  opts: { method?: 'auto' | 'lowrank' | 'full'; names?: [string, string] } = {},
): FrechetResult {
  const [nameX, nameY] = opts.names ?? ['set 1', 'set 2'];
  checkFeatures(x, nameX);
  checkFeatures(y, nameY);
  if (x.cols !== y.cols) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `feature dimensions differ (${x.cols} in ${nameX} vs ${y.cols} in ${nameY})`,
    );
  }
  const method = opts.method ?? 'auto';
  const useLowRank =
    method === 'lowrank' || (method === 'auto' && Math.max(x.rows, y.rows) < x.cols);
  if (!useLowRank) {
    const r = frechetDistanceFromStats(featureStats(x, nameX), featureStats(y, nameY));
    return { ...r, method: 'full' };
  }
  const d = x.cols;
  const cx = center(x);
  const cy = center(y);
  const meanTerm = squaredDistance(cx.mean, cy.mean);
  const tr1 = sumSquares(cx.centered.data) / (x.rows - 1);
  const tr2 = sumSquares(cy.centered.data) / (y.rows - 1);
  // C1^T C2 = X1c X2c^T / sqrt((n1 - 1)(n2 - 1))   // [n1, n2]
  const M = gemmNT(cx.centered, cy.centered);
  const scale = 1 / Math.sqrt((x.rows - 1) * (y.rows - 1));
  for (let i = 0; i < M.data.length; i++) M.data[i] *= scale;
  const nuc = nuclearNorm(M);
  return result('lowrank', x.rows, y.rows, d, meanTerm, tr1, tr2, nuc);
}

/** Frechet distance from two (mu, sigma) pairs (method `stats`). */
export function frechetDistanceFromStats(
  a: FeatureStats,
  b: FeatureStats,
  names: [string, string] = ['set 1', 'set 2'],
): FrechetResult {
  const d = a.mu.length;
  checkStats(a, names[0]);
  checkStats(b, names[1]);
  if (b.mu.length !== d) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `mu lengths differ (${d} in ${names[0]} vs ${b.mu.length} in ${names[1]})`,
    );
  }
  const meanTerm = squaredDistance(a.mu, b.mu);
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < d; i++) {
    tr1 += a.sigma.data[i * d + i];
    tr2 += b.sigma.data[i * d + i];
  }
  // S1 = F F^T (F [d, r]); eig(S1 S2) = eig(F^T S2 F), a symmetric PSD r x r matrix.
  const F = pivotedCholesky(a.sigma).factor;
  const Ft = transpose(F); // [r, d]
  const W = gemmNT(Ft, b.sigma); // F^T S2 = (S2 F)^T, S2 symmetric   // [r, d]
  const K = gemmNT(W, Ft); // F^T S2 F   // [r, r]
  const nuc = sumSqrtEigenvalues(K);
  return result('stats', a.n, b.n, d, meanTerm, tr1, tr2, nuc);
}

function result(
  method: FidMethod,
  n1: number,
  n2: number,
  dims: number,
  meanTerm: number,
  tr1: number,
  tr2: number,
  nuc: { value: number; clipped: number; minEigenvalue: number },
): FrechetResult {
  const covarianceTerm = tr1 + tr2 - 2 * nuc.value;
  return {
    fid: meanTerm + covarianceTerm,
    method,
    n1,
    n2,
    dims,
    meanTerm,
    covarianceTerm,
    traceSqrt: nuc.value,
    clippedEigenvalues: nuc.clipped,
    minEigenvalue: Math.min(0, nuc.minEigenvalue),
  };
}

function checkFeatures(m: Matrix, name: string): void {
  if (m.rows < 2) {
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `${name}: FID needs at least 2 samples, got ${m.rows}`,
    );
  }
  assertFinite(m.data, name, m.cols);
}

function checkStats(s: FeatureStats, name: string): void {
  const d = s.mu.length;
  if (s.sigma.rows !== d || s.sigma.cols !== d) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `${name}: sigma is ${s.sigma.rows} x ${s.sigma.cols}, expected ${d} x ${d} to match mu`,
    );
  }
  assertFinite(s.mu, `${name} (mu)`);
  assertFinite(s.sigma.data, `${name} (sigma)`, d);
}

function squaredDistance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

function sumSquares(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}
