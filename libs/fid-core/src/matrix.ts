import { ErrorCode, FidlabError } from '@fidlab/base';

/** A dense row-major float64 matrix: element (i, j) is `data[i * cols + j]`. Features are [n, d]. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

export function matrix(rows: number, cols: number, data?: Float64Array | number[]): Matrix {
  const buf = data === undefined ? new Float64Array(rows * cols) : Float64Array.from(data);
  if (buf.length !== rows * cols) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `matrix data has ${buf.length} values, expected ${rows} x ${cols} = ${rows * cols}`,
    );
  }
  return { rows, cols, data: buf };
}

/** Builds a matrix from nested arrays (tests and small hand-written inputs). */
export function fromRows(rows: readonly (readonly number[])[]): Matrix {
  const n = rows.length;
  const d = n === 0 ? 0 : rows[0].length;
  const m = matrix(n, d);
  rows.forEach((r, i) => {
    if (r.length !== d) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `row ${i} has ${r.length} values, expected ${d}`,
      );
    }
    m.data.set(r, i * d);
  });
  return m;
}

/** Rows `idx` of `m`, in that order (repeats allowed: bootstrap resamples with replacement). */
export function selectRows(m: Matrix, idx: ArrayLike<number>): Matrix {
  const out = new Float64Array(idx.length * m.cols);
  for (let r = 0; r < idx.length; r++) {
    const s = idx[r] * m.cols;
    out.set(m.data.subarray(s, s + m.cols), r * m.cols);
  }
  return { rows: idx.length, cols: m.cols, data: out };
}

/**
 * Throws a FidlabError naming `what` when any value is NaN or +-Inf: one bad feature silently
 * turns every statistic into NaN.
 */
export function assertFinite(values: ArrayLike<number>, what: string, cols = 0): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      const where = cols > 0 ? `row ${Math.floor(i / cols)}, column ${i % cols}` : `index ${i}`;
      throw new FidlabError(
        ErrorCode.NOT_FINITE,
        `${what}: non-finite value ${values[i]} at ${where}`,
      );
    }
  }
}

/** Column means [d] and the centered copy [n, d]. */
export function center(m: Matrix): { mean: Float64Array; centered: Matrix } {
  const { rows: n, cols: d, data } = m;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const c = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) c[i * d + j] = data[i * d + j] - mean[j];
  return { mean, centered: { rows: n, cols: d, data: c } };
}
