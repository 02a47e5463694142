import assert from 'node:assert/strict';
import { test } from 'node:test';
import { featureStats, StatsAccumulator } from './featureStats.js';
import { fromRows, matrix } from './matrix.js';
import { assertAllClose } from '@fidlab/testing';
import { loadJsonFixture, randomMatrix } from './testing.js';

interface FidFixture {
  x: number[][];
  mu_x: number[];
  sigma_x: number[][];
}

test('mean and covariance of a hand example (np.cov, n - 1)', () => {
  // Points (0,0), (2,0), (0,2), (2,2): mean (1,1); var = 4/3 per axis; cov 0.
  const s = featureStats(
    fromRows([
      [0, 0],
      [2, 0],
      [0, 2],
      [2, 2],
    ]),
  );
  assert.deepEqual(Array.from(s.mu), [1, 1]);
  assertAllClose(s.sigma.data, [4 / 3, 0, 0, 4 / 3], 1e-15);
  assert.equal(s.n, 4);
});

test('matches numpy mean and np.cov on fixtures', () => {
  for (const name of ['n_gt_d', 'n_lt_d', 'offset']) {
    const f = loadJsonFixture<FidFixture>(`fid/${name}.json`);
    const s = featureStats(fromRows(f.x));
    assertAllClose(s.mu, f.mu_x, 1e-14, `${name} mu`);
    assertAllClose(s.sigma.data, f.sigma_x.flat(), 1e-11, `${name} sigma`);
  }
});

test('streaming in uneven batches and merging workers equal the one-shot result', () => {
  const X = randomMatrix(37, 5, 9, 2, 100);
  const whole = featureStats(X);
  const rows = (a: number, b: number) => matrix(b - a, 5, X.data.subarray(a * 5, b * 5));
  const streamed = new StatsAccumulator(5)
    .add(rows(0, 1))
    .add(rows(1, 10))
    .add(rows(10, 37))
    .finalize();
  assertAllClose(streamed.mu, whole.mu, 1e-14, 'streamed mu');
  assertAllClose(streamed.sigma.data, whole.sigma.data, 1e-12, 'streamed sigma');
  const w1 = new StatsAccumulator(5).add(rows(0, 20));
  const w2 = new StatsAccumulator(5).add(rows(20, 30)).add(rows(30, 37));
  const merged = w1.merge(w2).finalize();
  assertAllClose(merged.sigma.data, whole.sigma.data, 1e-12, 'merged sigma');
  assert.equal(merged.n, 37);
  // Merging an empty accumulator changes nothing.
  assert.equal(new StatsAccumulator(5).merge(new StatsAccumulator(5)).count, 0);
});

test('bad input names the problem', () => {
  assert.throws(() => featureStats(fromRows([[1, 2]])), /at least 2 samples, got 1/);
  assert.throws(
    () =>
      featureStats(
        fromRows([
          [1, NaN],
          [1, 2],
        ]),
        'a.npy',
      ),
    /a.npy: non-finite value NaN at row 0, column 1/,
  );
  assert.throws(
    () => new StatsAccumulator(3).add(fromRows([[1, 2]]), 'b.npy'),
    /b.npy: feature dimension 2, expected 3/,
  );
  assert.throws(() => new StatsAccumulator(3).merge(new StatsAccumulator(4)), /dimension 4 into 3/);
});
