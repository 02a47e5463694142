import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapFid, percentile } from './bootstrapFid.js';
import { frechetDistance } from './frechetDistance.js';
import { selectRows } from './matrix.js';
import { createRng, sampleWithReplacement } from '@fidlab/base';
import { assertClose } from '@fidlab/testing';
import { randomMatrix } from './testing.js';

test('percentile matches numpy linear interpolation', () => {
  const s = Float64Array.of(1, 2, 3, 4, 10);
  assert.equal(percentile(s, 0), 1);
  assert.equal(percentile(s, 100), 10);
  assert.equal(percentile(s, 50), 3);
  assertClose(percentile(s, 97.5), 4 + 0.9 * 6, 1e-15); // pos 3.9 -> 4 + 0.9 (10 - 4)
});

test('Gram-based resamples equal FID recomputed on the resampled features', () => {
  const x = randomMatrix(8, 20, 1, 1, 3);
  const y = randomMatrix(11, 20, 2, 1.5, 3.2);
  const res = bootstrapFid(x, y, { resamples: 5, seed: 42 });
  assert.equal(res.fid.method, 'lowrank');
  // Redraw the same indices and compute each resample directly.
  const rng = createRng(42);
  for (let r = 0; r < 5; r++) {
    const I = sampleWithReplacement(rng, 8, 8);
    const J = sampleWithReplacement(rng, 11, 11);
    const direct = frechetDistance(selectRows(x, I), selectRows(y, J), { method: 'full' }).fid;
    assertClose(res.samples[r], direct, 1e-9, `resample ${r}`);
  }
});

test('interval brackets the estimate, is seeded, and shrinks with more samples', () => {
  const small = bootstrapFid(randomMatrix(10, 30, 3), randomMatrix(10, 30, 4, 1, 0.5), {
    resamples: 50,
    seed: 1,
  });
  const again = bootstrapFid(randomMatrix(10, 30, 3), randomMatrix(10, 30, 4, 1, 0.5), {
    resamples: 50,
    seed: 1,
  });
  assert.deepEqual(again.ci95, small.ci95);
  const other = bootstrapFid(randomMatrix(10, 30, 3), randomMatrix(10, 30, 4, 1, 0.5), {
    resamples: 50,
    seed: 2,
  });
  assert.notDeepEqual(other.ci95, small.ci95);
  assert.ok(small.ci95[0] < small.ci95[1]);
  // ci95 is the percentile interval moved by the bias estimate.
  const mean = small.samples.reduce((a, b) => a + b, 0) / small.samples.length;
  assertClose(small.bias, mean - small.fid.fid, 1e-12, 'bias');
  assertClose(small.ci95[0], small.percentile95[0] - small.bias, 1e-12, 'lower');
  assert.ok(small.bias > 0, 'resampling with replacement inflates FID');
  assert.ok(
    small.ci95[0] < small.fid.fid && small.fid.fid < small.ci95[1],
    'bias-corrected interval covers the estimate',
  );
  const wide = small.ci95[1] - small.ci95[0];
  const big = bootstrapFid(randomMatrix(25, 30, 3), randomMatrix(25, 30, 4, 1, 0.5), {
    resamples: 50,
    seed: 1,
  });
  assert.ok(big.ci95[1] - big.ci95[0] < wide, 'more samples give a narrower interval');
  // n > d takes the direct path.
  const full = bootstrapFid(randomMatrix(30, 3, 3), randomMatrix(30, 3, 4), {
    resamples: 10,
    seed: 3,
  });
  assert.equal(full.fid.method, 'full');
  assert.equal(full.samples.length, 10);
  assert.throws(
    () => bootstrapFid(randomMatrix(5, 3, 1), randomMatrix(5, 3, 1), { resamples: 1 }),
    /resamples must be an integer >= 2, got 1/,
  );
});
