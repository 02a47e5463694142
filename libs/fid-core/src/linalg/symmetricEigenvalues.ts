import { ErrorCode, FidlabError } from '../errors.js';
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
  const { diag, off } = tridiagonalize(A);
  return tridiagonalEigenvalues(diag, off).sort();
}
