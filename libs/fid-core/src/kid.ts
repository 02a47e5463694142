import { ErrorCode, FidlabError } from '@fidlab/base';
import { gemmNT } from './linalg/gemm.js';
import { assertFinite, selectRows, type Matrix } from './matrix.js';
import { createRng, sampleWithoutReplacement } from '@fidlab/base';

export interface KidOptions {
  /** Number of random subset pairs averaged (default 100, as clean-fid and torch-fidelity). */
  subsets?: number;
  /** Rows per subset, drawn from each set (default 1000, as clean-fid and torch-fidelity). */
  subsetSize?: number;
  /** Seed of the subset draws (default 0); an integer in [0, 2^32). */
  seed?: number;
}

export interface KidResult {
  /** Mean of the per-subset unbiased MMD^2 values. Can be slightly negative for close sets. */
  kid: number;
  /** Population standard deviation (ddof 0) of the per-subset values, as torch-fidelity reports. */
  kidStd: number;
  subsets: number;
  /** The subset size actually used (after clamping to the smaller set). */
  subsetSize: number;
  warnings: string[];
}

export const KID_DEFAULTS = {
  subsets: 100,
  subsetSize: 1000,
  seed: 0,
} as const;

/**
 * Largest total number of kernel entries (n_x^2 + n_y^2 + n_x n_y) kept in memory at once:
 * 2^27 float64 entries = 1 GiB. Above it, or when precomputing would cost more than the subsets
 * themselves, kernels are computed per subset instead (see `kid`).
 */
export const KID_MAX_FULL_KERNEL_ENTRIES = 2 ** 27;

/**
 * Kernel Inception Distance (Binkowski, Sutherland, Arbel, Gretton 2018, "Demystifying MMD
 * GANs", ICLR): the unbiased estimator of the squared maximum mean discrepancy between features
 * x [n_x, d] and y [n_y, d] under the cubic polynomial kernel
 *
 *   k(a, b) = (a . b / d + 1)^3,
 *
 * averaged over `subsets` subset pairs. Each pair draws m = `subsetSize` rows of x and m rows of y
 * without replacement, independently (seeded: x's indices, then y's, subset after subset). On one
 * pair X, Y:
 *
 *   MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
 *             - 2/m^2 sum_{i, j} k(x_i, y_j),
 *
 * the same estimator as clean-fid's `kernel_distance` and torch-fidelity's `kid`. `kidStd` is the
 * population std (ddof 0) of the per-subset values.
 *
 * Cost: the three kernel matrices K_xx [n_x, n_x], K_yy [n_y, n_y], K_xy [n_x, n_y] are computed
 * once with gemmNT, and each subset only sums looked-up entries (O(m^2) per subset, no d). When
 * that would take more than KID_MAX_FULL_KERNEL_ENTRIES entries, or more kernel entries than the
 * subsets themselves touch (3 m^2 per subset: large sets, few subsets), each subset's kernels are
 * computed from its own rows instead. Both paths draw the same subsets and give the same value up
 * to rounding.
 *
 * Deviation: clean-fid silently clamps a subset size larger than the smaller set and
 * torch-fidelity throws; here it is clamped and a warning is returned. The subsets themselves
 * come from fidlab's seeded RNG, so they differ from clean-fid's numpy draws for the same seed.
 */
export function kid(x: Matrix, y: Matrix, opts: KidOptions = {}): KidResult {
  if (x.cols !== y.cols) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `KID feature dimensions differ (x has ${x.cols}, y has ${y.cols})`,
    );
  }
  const d = x.cols;
  if (d < 1) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, 'KID needs at least one feature dimension');
  }
  if (x.rows < 2 || y.rows < 2) {
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `KID needs at least 2 samples per set (x has ${x.rows}, y has ${y.rows})`,
    );
  }
  const subsets = opts.subsets ?? KID_DEFAULTS.subsets;
  const requested = opts.subsetSize ?? KID_DEFAULTS.subsetSize;
  const seed = opts.seed ?? KID_DEFAULTS.seed;
  if (!Number.isInteger(subsets) || subsets < 1) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `KID subsets must be a positive integer, got ${subsets}`,
    );
  }
  if (!Number.isInteger(requested) || requested < 2) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `KID subset size must be an integer >= 2 (the unbiased estimator divides by m - 1), got ${requested}`,
    );
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `KID seed must be an integer in [0, 2^32), got ${seed}`,
    );
  }
  assertFinite(x.data, 'KID x features', d);
  assertFinite(y.data, 'KID y features', d);

  const warnings: string[] = [];
  const smallest = Math.min(x.rows, y.rows);
  let m = requested;
  if (m > smallest) {
    m = smallest;
    warnings.push(
      `KID subset size ${requested} clamped to ${m} (smallest set has ${smallest} samples)`,
    );
  }

  const nx = x.rows;
  const ny = y.rows;
  const fullEntries = nx * nx + ny * ny + nx * ny;
  const perSubsetEntries = subsets * 3 * m * m;
  const precompute = fullEntries <= KID_MAX_FULL_KERNEL_ENTRIES && fullEntries <= perSubsetEntries;

  let kxx: Matrix | undefined;
  let kyy: Matrix | undefined;
  let kxy: Matrix | undefined;
  if (precompute) {
    kxx = polyKernel(gemmNT(x, x), d); // [n_x, n_x]
    kyy = polyKernel(gemmNT(y, y), d); // [n_y, n_y]
    kxy = polyKernel(gemmNT(x, y), d); // [n_x, n_y]
  }
  const identity = new Int32Array(m);
  for (let i = 0; i < m; i++) identity[i] = i;

  const rng = createRng(seed);
  const values = new Float64Array(subsets);
  for (let s = 0; s < subsets; s++) {
    // Sorted indices: the sums do not depend on order, and ascending rows keep lookups local.
    const ix = sampleWithoutReplacement(rng, nx, m).sort(); // [m]
    const iy = sampleWithoutReplacement(rng, ny, m).sort(); // [m]
    let sxx: number;
    let syy: number;
    let sxy: number;
    if (kxx !== undefined && kyy !== undefined && kxy !== undefined) {
      sxx = offDiagonalSum(kxx, ix);
      syy = offDiagonalSum(kyy, iy);
      sxy = blockSum(kxy, ix, iy);
    } else {
      const xs = selectRows(x, ix); // [m, d]
      const ys = selectRows(y, iy); // [m, d]
      sxx = offDiagonalSum(polyKernel(gemmNT(xs, xs), d), identity);
      syy = offDiagonalSum(polyKernel(gemmNT(ys, ys), d), identity);
      sxy = blockSum(polyKernel(gemmNT(xs, ys), d), identity, identity);
    }
    values[s] = (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
  }

  let mean = 0;
  for (let s = 0; s < subsets; s++) mean += values[s];
  mean /= subsets;
  let variance = 0;
  for (let s = 0; s < subsets; s++) variance += (values[s] - mean) ** 2;
  variance /= subsets;
  return { kid: mean, kidStd: Math.sqrt(variance), subsets, subsetSize: m, warnings };
}

/** In place: G [r, c] of dot products becomes (G / d + 1)^3. */
function polyKernel(g: Matrix, d: number): Matrix {
  const v = g.data;
  for (let i = 0; i < v.length; i++) {
    const t = v[i] / d + 1;
    v[i] = t * t * t;
  }
  return g;
}

/**
 * sum_{a != b} K[idx_a, idx_b] for a symmetric K [n, n]: twice the sum above the diagonal
 * (idx is sorted and has no repeats, so idx_a < idx_b for a < b and only the upper triangle is read).
 */
function offDiagonalSum(k: Matrix, idx: Int32Array): number {
  const n = k.cols;
  const v = k.data;
  const m = idx.length;
  let total = 0;
  for (let a = 0; a < m - 1; a++) {
    const row = idx[a] * n;
    let s = 0;
    for (let b = a + 1; b < m; b++) s += v[row + idx[b]];
    total += s;
  }
  return 2 * total;
}

/** sum_{a, b} K[ix_a, iy_b] for K [n_x, n_y]. */
function blockSum(k: Matrix, ix: Int32Array, iy: Int32Array): number {
  const n = k.cols;
  const v = k.data;
  let total = 0;
  for (let a = 0; a < ix.length; a++) {
    const row = ix[a] * n;
    let s = 0;
    for (let b = 0; b < iy.length; b++) s += v[row + iy[b]];
    total += s;
  }
  return total;
}
