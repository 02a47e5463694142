import { ErrorCode, FidlabError } from '@fidlab/base';
import { assertFinite } from './matrix.js';

/**
 * Correlation coefficients between two paired series, e.g. a metric's value per checkpoint
 * against human ratings. All three match scipy.stats (pearsonr, spearmanr, kendalltau with its
 * default variant 'b').
 *
 * Constant series: when x or y takes a single value the coefficient is undefined (0 / 0) and is
 * returned as NaN, as scipy returns it (scipy also warns; here the caller checks Number.isNaN).
 * Length mismatch, fewer than 2 pairs and non-finite values throw a FidlabError.
 */
export interface Correlation {
  n: number;
  pearson: number;
  spearman: number;
  kendall: number;
}

/** All three coefficients of the pairs (x_i, y_i). */
export function correlate(x: ArrayLike<number>, y: ArrayLike<number>): Correlation {
  const n = checkPairs(x, y, 'correlate');
  return {
    n,
    pearson: pearsonUnchecked(x, y),
    spearman: pearsonUnchecked(averageRanks(x), averageRanks(y)),
    kendall: kendallUnchecked(x, y),
  };
}

/**
 * Pearson's product-moment correlation
 *   r = sum (x_i - mean x)(y_i - mean y) / sqrt(sum (x_i - mean x)^2 sum (y_i - mean y)^2),
 * clipped to [-1, 1] against rounding (as scipy.stats.pearsonr). NaN when x or y is constant.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPairs(x, y, 'pearson');
  return pearsonUnchecked(x, y);
}

/**
 * Spearman's rank correlation (Spearman 1904): Pearson's r of the ranks, tied values sharing
 * the average of the ranks they span (scipy.stats.spearmanr). NaN when x or y is constant.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPairs(x, y, 'spearman');
  return pearsonUnchecked(averageRanks(x), averageRanks(y));
}

/**
 * Kendall's tau-b (Kendall 1945, "The treatment of ties in ranking problems"), with ties
 * corrected as scipy.stats.kendalltau's default:
 *
 *   tau_b = (n_c - n_d) / sqrt((n_0 - n_x) (n_0 - n_y)),
 *
 * n_c / n_d the concordant / discordant pairs, n_0 = n (n - 1) / 2, n_x and n_y the pairs tied
 * in x and in y (pairs tied in both count in each). Computed in O(n log n) by Knight's algorithm
 * (Knight 1966, "A computer method for calculating Kendall's tau with ungrouped data"): sort by
 * (x, y), then n_d is the number of strict inversions of the y sequence, counted by merge sort.
 * NaN when x or y is constant.
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPairs(x, y, 'kendallTauB');
  return kendallUnchecked(x, y);
}

function checkPairs(x: ArrayLike<number>, y: ArrayLike<number>, what: string): number {
  if (x.length !== y.length) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `${what}: series lengths differ (x has ${x.length}, y has ${y.length})`,
    );
  }
  if (x.length < 2) {
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `${what}: needs at least 2 pairs, got ${x.length}`,
    );
  }
  assertFinite(x, `${what} x`);
  assertFinite(y, `${what} y`);
  return x.length;
}

function isConstant(v: ArrayLike<number>): boolean {
  for (let i = 1; i < v.length; i++) if (v[i] !== v[0]) return false;
  return true;
}

function pearsonUnchecked(x: ArrayLike<number>, y: ArrayLike<number>): number {
  // Tested on the values, not on sum of squares === 0: the computed mean of a constant series
  // (say 0.1 three times) need not equal the value, which would leave a tiny nonzero spread.
  if (isConstant(x) || isConstant(y)) return NaN;
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  // One square root is exact for more inputs (perfectly linear series give exactly +-1); two
  // separate ones only where sxx * syy would overflow or underflow.
  const joint = Math.sqrt(sxx * syy);
  const r = sxy / (Number.isFinite(joint) && joint > 0 ? joint : Math.sqrt(sxx) * Math.sqrt(syy));
  return Math.min(1, Math.max(-1, r));
}

/** 1-based ranks; a run of tied values all get the mean of the ranks the run spans. */
function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => v[a] - v[b]);
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && v[order[end]] === v[order[start]]) end++;
    const mean = (start + 1 + end) / 2; // mean of ranks start+1 .. end
    for (let p = start; p < end; p++) ranks[order[p]] = mean;
    start = end;
  }
  return ranks;
}

/** Number of pairs within runs of equal adjacent values: sum over runs of t (t - 1) / 2. */
function tiedPairs(sorted: ArrayLike<number>, sameAsPrevious: (i: number) => boolean): number {
  let pairs = 0;
  let run = 1;
  for (let i = 1; i <= sorted.length; i++) {
    if (i < sorted.length && sameAsPrevious(i)) {
      run++;
    } else {
      pairs += (run * (run - 1)) / 2;
      run = 1;
    }
  }
  return pairs;
}

function kendallUnchecked(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => x[a] - x[b] || y[a] - y[b]);
  const xs = new Float64Array(n); // [n] x in (x, y) order
  const ys = new Float64Array(n); // [n] y in (x, y) order; sorted in place by the inversion count
  for (let p = 0; p < n; p++) {
    xs[p] = x[order[p]];
    ys[p] = y[order[p]];
  }
  const xTies = tiedPairs(xs, (i) => xs[i] === xs[i - 1]);
  const jointTies = tiedPairs(xs, (i) => xs[i] === xs[i - 1] && ys[i] === ys[i - 1]);
  // Within a run of equal x, y is ascending, so every inversion is a pair with x_i < x_j and
  // y_i > y_j: a discordant pair.
  const discordant = countInversions(ys);
  const yTies = tiedPairs(ys, (i) => ys[i] === ys[i - 1]);
  const total = (n * (n - 1)) / 2;
  if (xTies === total || yTies === total) return NaN;
  const concordantMinusDiscordant = total - xTies - yTies + jointTies - 2 * discordant;
  const tau = concordantMinusDiscordant / Math.sqrt(total - xTies) / Math.sqrt(total - yTies);
  return Math.min(1, Math.max(-1, tau));
}

/** Sorts v ascending (bottom-up merge sort) and returns #{i < j : v_i > v_j} of the input. */
function countInversions(v: Float64Array): number {
  const n = v.length;
  let src: Float64Array = v;
  let dst: Float64Array = new Float64Array(n);
  let inversions = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) {
        if (src[j] < src[i]) {
          inversions += mid - i; // src[j] is below every value left in the left half
          dst[o++] = src[j++];
        } else {
          dst[o++] = src[i++];
        }
      }
      while (i < mid) dst[o++] = src[i++];
      while (j < hi) dst[o++] = src[j++];
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== v) v.set(src);
  return inversions;
}
