import type { Matrix } from '../matrix.js';
import { singularValues } from './singularValues.js';
import { symmetricEigenvalues } from './symmetricEigenvalues.js';

/** Nuclear norm (sum of singular values) of M [m, n]: tr sqrt(M^T M) without forming M^T M. */
export function nuclearNorm(M: Matrix): { value: number; clipped: number; minEigenvalue: number } {
  let value = 0;
  for (const s of singularValues(M)) value += s;
  return { value, clipped: 0, minEigenvalue: 0 };
}

/** sum_i sqrt(max(lambda_i(A), 0)) for symmetric PSD A, counting the clipped negative eigenvalues. */
export function sumSqrtEigenvalues(A: Matrix): {
  value: number;
  clipped: number;
  minEigenvalue: number;
} {
  const lambda = symmetricEigenvalues(A);
  let value = 0;
  let clipped = 0;
  let minEigenvalue = Infinity;
  for (const l of lambda) {
    minEigenvalue = Math.min(minEigenvalue, l);
    if (l > 0) value += Math.sqrt(l);
    else if (l < 0) clipped++;
  }
  return { value, clipped, minEigenvalue: lambda.length ? minEigenvalue : 0 };
}
