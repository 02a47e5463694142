import { ErrorCode, FidlabError } from '@fidlab/base';
import { checkCovariance } from './covarianceCheck.js';
import type { FeatureStats } from './featureStats.js';
import { gemmNT, gemmNTUpperA, gemmNTUpperB, syrkNT, syrkTN } from './linalg/gemm.js';
import { nuclearNorm, sumSqrtEigenvalues } from './linalg/nuclearNorm.js';
import { pivotedCholeskyLower } from './linalg/pivotedCholesky.js';
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
 * Cholesky factor F of S1 (S1 = F F^T): tr sqrt(S1 S2) = sum sqrt(eig(F^T S2 F)) (`full`/`stats`);
 * `full` forms F^T S2 F from the raw features without S2 (see fullTraceSqrt).
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
  const d = x.cols;
  const cx = center(x);
  const cy = center(y);
  const meanTerm = squaredDistance(cx.mean, cy.mean);
  const tr1 = sumSquares(cx.centered.data) / (x.rows - 1);
  const tr2 = sumSquares(cy.centered.data) / (y.rows - 1);
  // Finite features (checked above) can still overflow once squared (|x| > ~1e154): say so
  // here, before the products below turn it into an obscure linear-algebra error.
  if (!Number.isFinite(meanTerm + tr1 + tr2)) throw overflow(meanTerm, tr1, tr2);
  if (!useLowRank) {
    const nuc = fullTraceSqrt(cx.centered, cy.centered);
    return result('full', x.rows, y.rows, d, meanTerm, tr1, tr2, nuc);
  }
  // C1^T C2 = X1c X2c^T / sqrt((n1 - 1)(n2 - 1))   // [n1, n2]
  const M = gemmNT(cx.centered, cy.centered);
  const scale = 1 / Math.sqrt((x.rows - 1) * (y.rows - 1));
  for (let i = 0; i < M.data.length; i++) M.data[i] *= scale;
  const nuc = nuclearNorm(M);
  return result('lowrank', x.rows, y.rows, d, meanTerm, tr1, tr2, nuc);
}

/**
 * tr sqrt(S1 S2) from centered features X1c [n1, d], X2c [n2, d] without forming S2: with
 * P^T S1 P = L L^T (pivoted Cholesky, L lower [d, r]) and Y = X2c P / sqrt(n2 - 1),
 *   eig(S1 S2) = eig(L^T P^T S2 P L) = eig(G G^T),  G = L^T Y^T  [r, n2],
 * G's rows skipping L's zero triangle (n2 d^2 / 2 multiply-adds) and G G^T a syrk (n2 r^2 / 2),
 * against d^3 + n2 d^2 / 2 for S2 and then L^T S2 L by two products.
 */
function fullTraceSqrt(x1c: Matrix, x2c: Matrix): ReturnType<typeof sumSqrtEigenvalues> {
  const d = x1c.cols;
  const n2 = x2c.rows;
  const S1 = syrkTN(x1c);
  const inv1 = 1 / (x1c.rows - 1);
  for (let i = 0; i < S1.data.length; i++) S1.data[i] *= inv1;
  const { L, perm, rank: r } = pivotedCholeskyLower(S1);
  const Lt = transposedFactor(L, d, r);
  // Y [n2, d]: X2c with columns in pivoted order, scaled.
  const Y = new Float64Array(n2 * d);
  const s2 = 1 / Math.sqrt(n2 - 1);
  const x2 = x2c.data;
  for (let t = 0; t < n2; t++) {
    const o = t * d;
    for (let i = 0; i < d; i++) Y[o + i] = x2[o + perm[i]] * s2;
  }
  const G = gemmNTUpperA(Lt, { rows: n2, cols: d, data: Y });
  return sumSqrtEigenvalues(syrkNT(G));
}

/** L^T [r, d] (upper trapezoidal) from the pivoted factor L (row-major in a [d, d] array). */
function transposedFactor(L: Float64Array, d: number, r: number): Matrix {
  const Lt = new Float64Array(r * d);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let j = 0; j < Math.min(r, i + 1); j++) Lt[j * d + i] = L[ri + j];
  }
  return { rows: r, cols: d, data: Lt };
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
  // P^T S1 P = L L^T (L [d, r]); eig(S1 S2) = eig(L^T (P^T S2 P) L), a symmetric PSD r x r
  // matrix. Both products skip L's zero triangle (d^3 multiply-adds in all instead of 2 d^3).
  const { L, perm, rank: r } = pivotedCholeskyLower(a.sigma);
  const Lt = transposedFactor(L, d, r);
  const S2p = new Float64Array(d * d); // P^T S2 P
  for (let i = 0; i < d; i++) {
    const src = perm[i] * d;
    for (let j = 0; j < d; j++) S2p[i * d + j] = b.sigma.data[src + perm[j]];
  }
  const X = gemmNTUpperA(Lt, { rows: d, cols: d, data: S2p }); // L^T S2p (S2p symmetric)
  const K = gemmNTUpperB(X, Lt); // L^T S2p L   // [r, r]
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
  const fid = meanTerm + covarianceTerm;
  // Never a non-finite distance: the inputs are finite, so only overflow can get here.
  if (!Number.isFinite(fid)) throw overflow(meanTerm, tr1, tr2, nuc.value);
  return {
    fid,
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

function overflow(meanTerm: number, tr1: number, tr2: number, traceSqrt?: number): FidlabError {
  const nuc = traceSqrt === undefined ? '' : `, tr sqrt(S1 S2) ${traceSqrt}`;
  return new FidlabError(
    ErrorCode.NOT_FINITE,
    `FID overflowed (mean term ${meanTerm}, tr S1 ${tr1}, tr S2 ${tr2}${nuc}): ` +
      'the feature values are too large to square in float64; rescale them',
  );
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
  // A non-symmetric or indefinite sigma would give a plausible but wrong FID (the square-root
  // term reads one triangle and clips negative eigenvalues): refuse it, naming the set.
  if (!s.checked) checkCovariance(s.sigma, `${name} (sigma)`);
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
