import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '@fidlab/base';
import { fromRows } from '../matrix.js';
import { assertAllClose, assertClose, throwsCode } from '@fidlab/testing';
import { naiveNT, randomMatrix } from '../testing.js';
import { gemmNN, gemmNT, gemmTN, syrkTN, transpose } from './gemm.js';
import { nuclearNorm } from './nuclearNorm.js';
import { pivotedCholesky } from './pivotedCholesky.js';
import { singularValues } from './singularValues.js';
import { symmetricEigenvalues } from './symmetricEigenvalues.js';
import { tridiagonalEigenvalues } from './tridiagonalEigenvalues.js';

test('gemm variants match a naive triple loop on odd shapes', () => {
  for (const [m, k, n] of [
    [1, 1, 1],
    [5, 3, 7],
    [9, 17, 4],
    [13, 8, 13],
  ]) {
    const A = randomMatrix(m, k, m * 100 + k);
    const B = randomMatrix(n, k, n * 7 + 1);
    assertAllClose(gemmNT(A, B).data, naiveNT(A, B), 1e-14, `gemmNT ${m}x${k}x${n}`);
    assertAllClose(gemmNN(A, transpose(B)).data, naiveNT(A, B), 1e-14, 'gemmNN');
    assertAllClose(gemmTN(transpose(A), transpose(B)).data, naiveNT(A, B), 1e-14, 'gemmTN');
    const S = syrkTN(A); // A^T A   // [k, k]
    const At = transpose(A);
    assertAllClose(S.data, naiveNT(At, At), 1e-14, 'syrkTN');
  }
});

test('gemm: hand-computed 2x2 product and shape errors', () => {
  const A = fromRows([
    [1, 2],
    [3, 4],
  ]);
  const B = fromRows([
    [5, 6],
    [7, 8],
  ]);
  assert.deepEqual(Array.from(gemmNN(A, B).data), [19, 22, 43, 50]);
  assert.throws(() => gemmNT(A, fromRows([[1, 2, 3]])), /inner dimensions differ \(2 vs 3\)/);
});

test('tridiagonal eigenvalues: known closed forms', () => {
  // The n x n matrix with 2 on the diagonal and -1 off it has eigenvalues 2 - 2 cos(k pi / (n + 1)).
  const n = 50;
  const ev = Array.from(
    tridiagonalEigenvalues(new Float64Array(n).fill(2), new Float64Array(n - 1).fill(-1)),
  ).sort((a, b) => a - b);
  const expected = Array.from(
    { length: n },
    (_, k) => 2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1)),
  ).sort((a, b) => a - b);
  assertAllClose(ev, expected, 1e-13, 'eigenvalues');
  // Already diagonal.
  assert.deepEqual(
    Array.from(tridiagonalEigenvalues(Float64Array.of(3, 1, 2), Float64Array.of(0, 0))).sort(),
    [1, 2, 3],
  );
});

test('symmetric eigenvalues: hand example and invariants on a random matrix', () => {
  // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
  assertAllClose(
    symmetricEigenvalues(
      fromRows([
        [2, 1],
        [1, 2],
      ]),
    ),
    [1, 3],
    1e-15,
  );
  // [[4,1,0],[1,4,1],[0,1,4]]: 4 - sqrt2, 4, 4 + sqrt2.
  assertAllClose(
    symmetricEigenvalues(
      fromRows([
        [4, 1, 0],
        [1, 4, 1],
        [0, 1, 4],
      ]),
    ),
    [4 - Math.SQRT2, 4, 4 + Math.SQRT2],
    1e-15,
  );
  const X = randomMatrix(40, 25, 3);
  const A = syrkTN(X); // 25 x 25 SPD
  const ev = symmetricEigenvalues(A);
  let trace = 0;
  let frob = 0;
  for (let i = 0; i < 25; i++) trace += A.data[i * 25 + i];
  for (const v of A.data) frob += v * v;
  assertClose(
    ev.reduce((s, v) => s + v, 0),
    trace,
    1e-12,
    'sum of eigenvalues = trace',
  );
  assertClose(
    ev.reduce((s, v) => s + v * v, 0),
    frob,
    1e-12,
    'sum of squares = ||A||_F^2',
  );
  assert.ok(ev[0] > 0, 'SPD matrix has positive eigenvalues');
});

test('pivoted Cholesky reconstructs PSD matrices and reveals rank', () => {
  const X = randomMatrix(5, 12, 11); // rank 5 Gram in 12 dimensions
  const S = syrkTN(X); // [12, 12], rank 5
  const { factor, rank } = pivotedCholesky(S);
  assert.equal(rank, 5);
  assertAllClose(gemmNT(factor, factor).data, S.data, 1e-13, 'F F^T');
  const full = syrkTN(randomMatrix(30, 8, 12));
  const f = pivotedCholesky(full);
  assert.equal(f.rank, 8);
  assertAllClose(gemmNT(f.factor, f.factor).data, full.data, 1e-13, 'F F^T (full rank)');
});

test('nuclear norm: diagonal and rotated examples', () => {
  assertClose(
    nuclearNorm(
      fromRows([
        [3, 0],
        [0, -4],
      ]),
    ).value,
    7,
    1e-15,
  );
  // A rank-1 matrix u v^T has one singular value |u||v|.
  assertClose(
    nuclearNorm(
      fromRows([
        [1, 2, 2],
        [2, 4, 4],
      ]),
    ).value,
    Math.sqrt(5) * 3,
    1e-12,
  );
  // Wide and tall give the same answer.
  const M = randomMatrix(7, 4, 5);
  assertClose(nuclearNorm(M).value, nuclearNorm(transpose(M)).value, 1e-12);
});

test('singular values: exact on rank-deficient matrices (no squaring)', () => {
  // Rank 1: one singular value |u||v|, the others zero to ~eps * ||M||, not ~sqrt(eps).
  const sv = Array.from(
    singularValues(
      fromRows([
        [1, 2, 2],
        [2, 4, 4],
        [3, 6, 6],
      ]),
    ),
  ).sort((a, b) => b - a);
  assertClose(sv[0], Math.sqrt(14) * 3, 1e-14);
  assert.ok(sv[1] < 1e-14 && sv[2] < 1e-14, `zero singular values: ${sv}`);
  // Singular values of M equal sqrt(eig(M^T M)) on a well-conditioned random matrix.
  const M = randomMatrix(9, 6, 21);
  const fromEig = Array.from(symmetricEigenvalues(gemmTN(M, M)), Math.sqrt).sort((a, b) => a - b);
  assertAllClose(
    Array.from(singularValues(M)).sort((a, b) => a - b),
    fromEig,
    1e-12,
  );
});

test('singular values: tiny and huge matrices scale exactly (no underflow inside reflections)', () => {
  const R = randomMatrix(24, 12, 5);
  const ref = Array.from(singularValues(R)).sort((a, b) => a - b);
  // 1e-155 used to underflow (squares below the normal range) and stop QL with NaNs; 1e-165
  // silently gave wrong values.
  for (const scale of [1e-155, 1e-160, 1e-165, 1e150]) {
    const S = { rows: R.rows, cols: R.cols, data: R.data.map((x) => x * scale) };
    const got = Array.from(singularValues(S)).sort((a, b) => a - b);
    assertAllClose(
      got.map((x) => x / scale),
      ref,
      1e-12,
      `scale ${scale}`,
    );
  }
});

test('singular values of a rounding-residue matrix (near-identical rows, centred) are ~0', () => {
  // What a bootstrap resample of a collapsed generator looks like: rows equal up to rounding.
  const base = randomMatrix(1, 16, 9).data;
  const rows = Array.from({ length: 12 }, (_, i) =>
    Array.from(base, (x) => x * (1 + (i % 3) * Number.EPSILON)),
  );
  const mean = base.map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
  const C = fromRows(rows.map((r) => r.map((x, j) => (x - mean[j]) * 1e-120)));
  const sigma = singularValues(C);
  for (const s of sigma) assert.ok(Number.isFinite(s) && s < 1e-130, `sigma ${s}`);
});

test('tridiagonal QL refuses NaN and Inf, naming the entry (it used to fail as "did not converge" or return the input)', () => {
  const d = Float64Array.from([1, 2, 3]);
  const e = Float64Array.from([0.5, 0.5]);
  const withAt = (a: Float64Array, i: number, v: number) => {
    const b = Float64Array.from(a);
    b[i] = v;
    return b;
  };
  throwsCode(
    () => tridiagonalEigenvalues(withAt(d, 1, NaN), e),
    ErrorCode.NOT_FINITE,
    /tridiagonal QL: diagonal entry 1 of the 3 x 3 matrix is NaN/,
  );
  throwsCode(
    () => tridiagonalEigenvalues(d, withAt(e, 0, Infinity)),
    ErrorCode.NOT_FINITE,
    /off-diagonal entry 0 of the 3 x 3 matrix is Infinity/,
  );
  throwsCode(
    () => tridiagonalEigenvalues(withAt(d, 2, -Infinity), e),
    ErrorCode.NOT_FINITE,
    /diagonal entry 2 .* is -Infinity/,
  );
  // Finite input is unaffected: [[1, .5, 0], [.5, 2, .5], [0, .5, 3]] has trace 6.
  const lambda = tridiagonalEigenvalues(d, e);
  assertClose(
    lambda.reduce((s, x) => s + x, 0),
    6,
    1e-14,
  );
});

test('symmetric eigenvalues and singular values refuse non-finite matrices, naming row and column', () => {
  throwsCode(
    () =>
      symmetricEigenvalues(
        fromRows([
          [1, 2],
          [2, NaN],
        ]),
      ),
    ErrorCode.NOT_FINITE,
    /symmetricEigenvalues: 2 x 2 matrix has NaN at row 1, column 1/,
  );
  // The lower triangle is not read, so it is not checked either.
  const lowerJunk = fromRows([
    [2, 0],
    [NaN, 3],
  ]);
  assert.deepEqual(Array.from(symmetricEigenvalues(lowerJunk)), [2, 3]);
  throwsCode(
    () =>
      singularValues(
        fromRows([
          [1, Infinity],
          [2, 1],
        ]),
      ),
    ErrorCode.NOT_FINITE,
    /singularValues: 2 x 2 matrix: non-finite value Infinity at row 0, column 1/,
  );
  throwsCode(
    () =>
      singularValues(
        fromRows([
          [1, 2, 3],
          [4, NaN, 6],
        ]),
      ),
    ErrorCode.NOT_FINITE,
    /row 1, column 1/,
  );
});
