import { ErrorCode, FidlabError } from '@fidlab/base';
import { assertFinite, center, type Matrix } from './matrix.js';
import { syrkTN } from './linalg/gemm.js';

/** Mean and covariance of a feature set: what pytorch-fid stores as `mu` / `sigma`. */
export interface FeatureStats {
  /** Number of samples the statistics were computed from (0 when read from a stats file that does not say). */
  n: number;
  mu: Float64Array; // [d]
  sigma: Matrix; // [d, d], unbiased (divides by n - 1, as np.cov)
  /** sigma already passed checkCovariance (e.g. where its file was read): not checked again. */
  checked?: boolean;
}

/**
 * Streaming mean / scatter accumulator in float64. Batches are folded in with the pairwise update
 * of Chan, Golub & LeVeque (1979): for partial results (n_a, mean_a, M2_a) and (n_b, mean_b, M2_b),
 *   n = n_a + n_b,  delta = mean_b - mean_a,
 *   mean = mean_a + delta * n_b / n,
 *   M2   = M2_a + M2_b + delta delta^T * n_a n_b / n,
 * where M2 is the scatter matrix sum (x - mean)(x - mean)^T. The same formula merges the partial
 * statistics of two workers exactly, and covariance = M2 / (n - 1).
 */
export class StatsAccumulator {
  readonly dims: number;
  private n = 0;
  private mean: Float64Array;
  private m2: Float64Array; // [d, d]

  constructor(dims: number) {
    if (!Number.isInteger(dims) || dims < 1) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `feature dimension must be a positive integer, got ${dims}`,
      );
    }
    this.dims = dims;
    this.mean = new Float64Array(dims);
    this.m2 = new Float64Array(dims * dims);
  }

  get count(): number {
    return this.n;
  }

  /** Folds in a batch of features [b, d]. */
  add(batch: Matrix, source = 'batch'): this {
    if (batch.cols !== this.dims) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `${source}: feature dimension ${batch.cols}, expected ${this.dims}`,
      );
    }
    if (batch.rows === 0) return this;
    assertFinite(batch.data, source, batch.cols);
    const { mean, centered } = center(batch);
    const m2 = syrkTN(centered).data;
    this.combine(batch.rows, mean, m2);
    return this;
  }

  /** Merges another accumulator's partial statistics into this one (exact up to rounding). */
  merge(other: StatsAccumulator): this {
    if (other.dims !== this.dims) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `cannot merge statistics of dimension ${other.dims} into ${this.dims}`,
      );
    }
    if (other.n > 0) this.combine(other.n, other.mean, other.m2);
    return this;
  }

  private combine(nb: number, meanB: Float64Array, m2B: Float64Array): void {
    const d = this.dims;
    const na = this.n;
    const n = na + nb;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = meanB[j] - this.mean[j];
    const w = (na * nb) / n;
    const m2 = this.m2;
    for (let i = 0; i < d; i++) {
      const di = delta[i] * w;
      const r = i * d;
      for (let j = 0; j < d; j++) m2[r + j] += m2B[r + j] + di * delta[j];
    }
    for (let j = 0; j < d; j++) this.mean[j] += (delta[j] * nb) / n;
    this.n = n;
  }

  /** Mean and unbiased covariance; needs at least 2 samples. */
  finalize(): FeatureStats {
    if (this.n < 2) {
      throw new FidlabError(
        ErrorCode.TOO_FEW_SAMPLES,
        `covariance needs at least 2 samples, got ${this.n}`,
      );
    }
    const sigma = new Float64Array(this.m2.length);
    const inv = 1 / (this.n - 1);
    for (let i = 0; i < sigma.length; i++) sigma[i] = this.m2[i] * inv;
    return {
      n: this.n,
      mu: Float64Array.from(this.mean),
      sigma: { rows: this.dims, cols: this.dims, data: sigma },
    };
  }
}

/** Statistics of a whole feature matrix [n, d] in one call. */
export function featureStats(features: Matrix, source = 'features'): FeatureStats {
  return new StatsAccumulator(features.cols).add(features, source).finalize();
}
