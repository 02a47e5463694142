import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Matrix } from '../matrix.js';
import { tridiagonalEigenvalues } from './tridiagonalEigenvalues.js';
import { tridiagonalize } from './tridiagonalize.js';

/** Eigenvalues of a real symmetric matrix (upper triangle read), ascending. Real by construction. */
export function symmetricEigenvalues(A: Matrix): Float64Array {
  if (A.rows !== A.cols) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `symmetricEigenvalues: matrix is ${A.rows} x ${A.cols}, not square`,
    );
  }
  // Only the upper triangle is read (callers may leave the lower one unset), so only it is checked.
  const n = A.cols;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = A.data[i * n + j];
      if (!Number.isFinite(v)) {
        throw new FidlabError(
          ErrorCode.NOT_FINITE,
          `symmetricEigenvalues: ${n} x ${n} matrix has ${v} at row ${i}, column ${j}`,
        );
      }
    }
  }
  const { diag, off } = tridiagonalize(A);
  return tridiagonalEigenvalues(diag, off).sort();
}
