import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapFid } from './bootstrapFid.js';
import { ErrorCode } from '@fidlab/base';
import { featureStats } from './featureStats.js';
import { frechetDistance, frechetDistanceFromStats } from './frechetDistance.js';
import { fromRows, matrix } from './matrix.js';
import { assertClose, throwsCode } from '@fidlab/testing';
import { loadJsonFixture, randomMatrix } from './testing.js';

interface FidFixture {
  x: number[][];
  y: number[][];
  mu_x: number[];
  sigma_x: number[][];
  mu_y: number[];
  sigma_y: number[][];
  fid_lowrank: number;
  fid_sqrtm: number;
}

test('identical sets give 0 on every path', () => {
  const X = randomMatrix(12, 30, 1);
  assert.ok(Math.abs(frechetDistance(X, X, { method: 'lowrank' }).fid) < 1e-10);
  const Y = randomMatrix(60, 10, 2);
  assert.ok(Math.abs(frechetDistance(Y, Y, { method: 'full' }).fid) < 1e-10);
  const s = featureStats(Y);
  assert.ok(Math.abs(frechetDistanceFromStats(s, s).fid) < 1e-10);
});

test('equal covariances give the squared mean difference', () => {
  const X = randomMatrix(10, 25, 3);
  const shift = Array.from({ length: 25 }, (_, j) => (j % 3) - 1); // ||shift||^2 = 17 (25 entries: 9 x 1, 8 x 0, 8 x 1 -> count)
  const expected = shift.reduce((s, v) => s + v * v, 0);
  const Y = matrix(
    10,
    25,
    X.data.map((v, i) => v + shift[i % 25]),
  );
  for (const method of ['lowrank', 'full'] as const) {
    const r = frechetDistance(X, Y, { method });
    assertClose(r.fid, expected, 1e-10, `${method} fid`);
    assertClose(r.meanTerm, expected, 1e-12, `${method} mean term`);
  }
});

test('hand example: 1-D Gaussians, FID = (m1-m2)^2 + (s1 - s2)^2', () => {
  // x: {0, 2} -> mean 1, var 2; y: {0, 4} -> mean 2, var 8.   (1-2)^2 + (sqrt2 - sqrt8)^2 = 1 + 2 = 3.
  const r = frechetDistance(fromRows([[0], [2]]), fromRows([[0], [4]]), { method: 'full' });
  assertClose(r.fid, 3, 1e-14);
  const l = frechetDistance(fromRows([[0], [2]]), fromRows([[0], [4]]), { method: 'lowrank' });
  assertClose(l.fid, 3, 1e-14);
});

test('both paths agree with numpy float64 (low-rank SVD and scipy sqrtm) on fixtures', () => {
  for (const name of ['n_gt_d', 'n_lt_d', 'offset']) {
    const f = loadJsonFixture<FidFixture>(`fid/${name}.json`);
    const X = fromRows(f.x);
    const Y = fromRows(f.y);
    const low = frechetDistance(X, Y, { method: 'lowrank' });
    const full = frechetDistance(X, Y, { method: 'full' });
    const stats = frechetDistanceFromStats(
      { n: X.rows, mu: Float64Array.from(f.mu_x), sigma: fromRows(f.sigma_x) },
      { n: Y.rows, mu: Float64Array.from(f.mu_y), sigma: fromRows(f.sigma_y) },
    );
    assert.equal(low.method, 'lowrank');
    assert.equal(full.method, 'full');
    assert.equal(stats.method, 'stats');
    // The offset case is tiny (1e-3) next to its terms (~1e-2): judge it on the terms' scale.
    const tol = name === 'offset' ? 1e-6 : 1e-9;
    assertClose(low.fid, f.fid_lowrank, tol, `${name} lowrank`);
    assertClose(full.fid, f.fid_lowrank, tol, `${name} full`);
    assertClose(stats.fid, f.fid_lowrank, tol, `${name} stats`);
  }
});

test('auto picks lowrank when n < d and full otherwise', () => {
  assert.equal(frechetDistance(randomMatrix(5, 20, 1), randomMatrix(6, 20, 2)).method, 'lowrank');
  assert.equal(frechetDistance(randomMatrix(30, 4, 1), randomMatrix(30, 4, 2)).method, 'full');
});

test('bad input: dimension mismatch, too few samples, NaN', () => {
  assert.throws(
    () =>
      frechetDistance(randomMatrix(5, 3, 1), randomMatrix(5, 4, 1), { names: ['a.npy', 'b.npy'] }),
    /feature dimensions differ \(3 in a.npy vs 4 in b.npy\)/,
  );
  assert.throws(
    () =>
      frechetDistance(randomMatrix(1, 3, 1), randomMatrix(5, 3, 1), { names: ['a.npy', 'b.npy'] }),
    /a.npy: FID needs at least 2 samples, got 1/,
  );
  const bad = randomMatrix(4, 3, 1);
  bad.data[7] = Infinity;
  assert.throws(
    () => frechetDistance(randomMatrix(4, 3, 1), bad, { names: ['a.npy', 'b.npy'] }),
    /b.npy: non-finite value Infinity at row 2, column 1/,
  );
});

test('NaN features are refused at the FID entry points, naming set, row and column', () => {
  const bad = randomMatrix(5, 4, 3);
  bad.data[2 * 4 + 3] = NaN;
  for (const method of ['lowrank', 'full'] as const) {
    throwsCode(
      () => frechetDistance(randomMatrix(5, 4, 1), bad, { method, names: ['real', 'generated'] }),
      ErrorCode.NOT_FINITE,
      /generated: non-finite value NaN at row 2, column 3/,
    );
  }
  throwsCode(
    () => bootstrapFid(bad, randomMatrix(5, 4, 1), { resamples: 4, names: ['gen.npy', 'b'] }),
    ErrorCode.NOT_FINITE,
    /gen.npy: non-finite value NaN at row 2, column 3/,
  );
  const stats = featureStats(randomMatrix(6, 3, 2));
  stats.sigma.data[1 * 3 + 2] = NaN;
  throwsCode(
    () => frechetDistanceFromStats(featureStats(randomMatrix(6, 3, 4)), stats, ['a.npz', 'b.npz']),
    ErrorCode.NOT_FINITE,
    /b.npz \(sigma\): non-finite value NaN at row 1, column 2/,
  );
});

test('features too large to square give an error, not an infinite FID', () => {
  const huge = (seed: number) => {
    const m = randomMatrix(4, 3, seed);
    for (let i = 0; i < m.data.length; i++) m.data[i] *= 1e200;
    return m;
  };
  for (const method of ['lowrank', 'full'] as const) {
    throwsCode(
      () => frechetDistance(huge(1), huge(2), { method }),
      ErrorCode.NOT_FINITE,
      /FID overflowed \(mean term .*tr S1 Infinity.*too large to square in float64/,
    );
  }
});
