import { ErrorCode, FidlabError } from '@fidlab/base';
import { frechetDistance, type FrechetResult } from './frechetDistance.js';
import { gemmNT } from './linalg/gemm.js';
import { nuclearNorm } from './linalg/nuclearNorm.js';
import { center, selectRows, type Matrix } from './matrix.js';
import { createRng, sampleWithReplacement } from '@fidlab/base';

export interface BootstrapResult {
  /** FID of the full sets (the point estimate). */
  fid: FrechetResult;
  /** Bias-corrected 95% interval: the percentile interval shifted by -bias (see below). */
  ci95: [number, number];
  /** Plain 2.5th and 97.5th percentiles of the resampled FIDs. */
  percentile95: [number, number];
  /** Bootstrap estimate of the bias: mean of the resampled FIDs minus the full-set FID. */
  bias: number;
  resamples: number;
  seed: number;
  /** Every resampled FID, in draw order. */
  samples: Float64Array;
}

/**
 * Bootstrap 95% confidence interval for FID (Efron & Tibshirani 1993, ch. 10 and 13): both
 * image sets are resampled with replacement (seeded) and FID is recomputed per resample. Small
 * test sets (CUFS: 100-338 images) make FID noisy; this says how much.
 *
 * Deviation from the plain percentile interval: FID is biased upwards at small n, and a resample
 * holds only ~63% distinct images, so resampled FIDs sit systematically above the full-set value
 * (often the whole percentile interval lies above it). `ci95` is therefore the percentile
 * interval shifted by the bootstrap bias estimate (mean of resamples - full-set FID, Efron &
 * Tibshirani sec. 10.6); the unshifted percentiles are kept in `percentile95`.
 *
 * When n < d the resamples never touch d-dimensional data again: with A, B the features centered
 * by their full-set means, every term of a resample's FID is a function of the Gram matrices
 * A A^T, B B^T, A B^T (computed once) at the drawn indices; the cross term is the double-centered
 * submatrix of A B^T, whose nuclear norm gives tr sqrt(S1 S2). Each resample then costs an
 * n1 x n2 singular-value problem instead of an n x d product.
 */
export function bootstrapFid(
  x: Matrix,
  y: Matrix,
  opts: {
    resamples?: number;
    seed?: number;
    names?: [string, string];
    onProgress?: (done: number, total: number) => void;
  } = {},
): BootstrapResult {
  const resamples = opts.resamples ?? 200;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(resamples) || resamples < 2) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `bootstrap resamples must be an integer >= 2, got ${resamples}`,
    );
  }
  const fid = frechetDistance(x, y, { names: opts.names });
  const rng = createRng(seed);
  const samples = new Float64Array(resamples);
  const gram = fid.method === 'lowrank' ? gramTerms(x, y) : undefined;
  for (let r = 0; r < resamples; r++) {
    const I = sampleWithReplacement(rng, x.rows, x.rows);
    const J = sampleWithReplacement(rng, y.rows, y.rows);
    samples[r] = gram
      ? resampledFid(gram, I, J)
      : frechetDistance(selectRows(x, I), selectRows(y, J)).fid;
    opts.onProgress?.(r + 1, resamples);
  }
  const sorted = Float64Array.from(samples).sort();
  const percentile95: [number, number] = [percentile(sorted, 2.5), percentile(sorted, 97.5)];
  let mean = 0;
  for (const v of samples) mean += v / resamples;
  const bias = mean - fid.fid;
  const ci95: [number, number] = [percentile95[0] - bias, percentile95[1] - bias];
  return { fid, ci95, percentile95, bias, resamples, seed, samples };
}

interface GramTerms {
  n1: number;
  n2: number;
  meanDiff2: number; // ||mu1 - mu2||^2
  g11: Float64Array; // A A^T   [n1, n1]
  g22: Float64Array; // B B^T   [n2, n2]
  g12: Float64Array; // A B^T   [n1, n2]
  am: Float64Array; // A (mu1 - mu2)   [n1]
  bm: Float64Array; // B (mu1 - mu2)   [n2]
}

function gramTerms(x: Matrix, y: Matrix): GramTerms {
  const a = center(x);
  const b = center(y);
  const d = x.cols;
  const m = new Float64Array(d);
  let meanDiff2 = 0;
  for (let j = 0; j < d; j++) {
    m[j] = a.mean[j] - b.mean[j];
    meanDiff2 += m[j] * m[j];
  }
  const mm: Matrix = { rows: 1, cols: d, data: m };
  return {
    n1: x.rows,
    n2: y.rows,
    meanDiff2,
    g11: gemmNT(a.centered, a.centered).data,
    g22: gemmNT(b.centered, b.centered).data,
    g12: gemmNT(a.centered, b.centered).data,
    am: gemmNT(a.centered, mm).data,
    bm: gemmNT(b.centered, mm).data,
  };
}

/** FID of the resample (rows I of set 1, rows J of set 2) from the Gram terms alone. */
function resampledFid(g: GramTerms, I: Int32Array, J: Int32Array): number {
  const { n1, n2 } = g;
  // Resample means are mu1 + abar and mu2 + bbar, with abar = mean of A[I], bbar = mean of B[J].
  let aa = 0; // sum_{a,a'} G11[I_a, I_a']  = n1^2 |abar|^2
  let trA = 0; // sum_a G11[I_a, I_a]
  for (const i of I) {
    const r = i * n1;
    trA += g.g11[r + i];
    for (const k of I) aa += g.g11[r + k];
  }
  let bb = 0;
  let trB = 0;
  for (const j of J) {
    const r = j * n2;
    trB += g.g22[r + j];
    for (const k of J) bb += g.g22[r + k];
  }
  // Cross block G12[I, J] with its row and column means, for the double centering below.
  const cross = new Float64Array(n1 * n2); // [n1, n2]
  const rowMean = new Float64Array(n1);
  const colMean = new Float64Array(n2);
  let grand = 0;
  for (let p = 0; p < n1; p++) {
    const src = I[p] * n2;
    const dst = p * n2;
    let s = 0;
    for (let q = 0; q < n2; q++) {
      const v = g.g12[src + J[q]];
      cross[dst + q] = v;
      s += v;
      colMean[q] += v;
    }
    rowMean[p] = s / n2;
    grand += s;
  }
  for (let q = 0; q < n2; q++) colMean[q] /= n1;
  grand /= n1 * n2; // = abar . bbar
  let amSum = 0;
  for (const i of I) amSum += g.am[i];
  let bmSum = 0;
  for (const j of J) bmSum += g.bm[j];
  const abar2 = aa / (n1 * n1);
  const bbar2 = bb / (n2 * n2);
  // ||(mu1 + abar) - (mu2 + bbar)||^2 with m = mu1 - mu2.
  const meanTerm = g.meanDiff2 + abar2 + bbar2 + (2 * amSum) / n1 - (2 * bmSum) / n2 - 2 * grand;
  const tr1 = (trA - n1 * abar2) / (n1 - 1);
  const tr2 = (trB - n2 * bbar2) / (n2 - 1);
  const scale = 1 / Math.sqrt((n1 - 1) * (n2 - 1));
  for (let p = 0; p < n1; p++) {
    const dst = p * n2;
    for (let q = 0; q < n2; q++)
      cross[dst + q] = (cross[dst + q] - rowMean[p] - colMean[q] + grand) * scale;
  }
  const nuc = nuclearNorm({ rows: n1, cols: n2, data: cross }).value;
  return meanTerm + tr1 + tr2 - 2 * nuc;
}

/** numpy's default (linear) percentile of ascending `sorted`, q in [0, 100]. */
export function percentile(sorted: Float64Array, q: number): number {
  const pos = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
