import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frechetDistance, fromRows, type Matrix } from '@fidlab/fid-core';
import { metricValues, parseSweepText } from '../src/index.js';

function blob(n: number, d: number, shift: number, seed: number): Matrix {
  let s = seed;
  const u = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return fromRows(Array.from({ length: n }, () => Array.from({ length: d }, () => u() + shift)));
}

const spec = parseSweepText(`name: t
data: { root: d, size: 32 }
evaluate:
  metrics:
    - { name: fid_x, kind: fid, extractor: facerec }
    - { name: fid_ci, kind: fid, extractor: facerec, bootstrap: 20 }
    - { name: kid_x, kind: kid, extractor: facerec }
    - { name: rank_x, kind: rank-k, extractor: facerec, k: [1, 3] }
select: { metric: fid_x }
`);

test('fid values equal fid-core, with a bootstrap interval when asked', () => {
  const gen = blob(40, 6, 0.3, 1);
  const real = blob(40, 6, 0, 2);
  const f = { generated: gen, real, identities: Array(40).fill(null) };
  const [plain] = metricValues(spec.evaluate!.metrics[0], 'facerec', f);
  assert.equal(plain.name, 'fid_x');
  assert.equal(plain.value, frechetDistance(gen, real).fid);
  assert.equal(plain.n1, 40);
  const [ci] = metricValues(spec.evaluate!.metrics[1], 'facerec', f);
  assert.equal(ci.value, plain.value);
  assert.ok(ci.ciLow! < ci.ciHigh!, 'the interval has width');
  const [k] = metricValues(spec.evaluate!.metrics[2], 'facerec', f);
  assert.ok(k.value > 0, 'shifted sets have positive KID');
  assert.equal(typeof k.extra?.kid_std, 'number');
});

test('rank-k gives one value per k, the first under the metric name', () => {
  // Generated row i is a slightly perturbed copy of real row i: perfect identification.
  const real = blob(10, 8, 0, 3);
  const gen = fromRows(
    Array.from({ length: 10 }, (_, i) =>
      Array.from(real.data.subarray(i * 8, i * 8 + 8), (x) => x + 0.001),
    ),
  );
  const ids = Array.from({ length: 10 }, (_, i) => `id${i}`);
  const values = metricValues(spec.evaluate!.metrics[3], 'facerec', {
    generated: gen,
    real,
    identities: ids,
  });
  assert.deepEqual(
    values.map((v) => [v.name, v.value]),
    [
      ['rank_x', 1],
      ['rank_x@3', 1],
    ],
  );
  // The first value carries the whole CMC curve, one accuracy per gallery identity.
  assert.deepEqual(values[0].extra?.cmc, Array(10).fill(1));
  assert.equal(values[1].extra?.cmc, undefined);
  // Generated images that match the wrong ground truth are not identified.
  const shifted = fromRows(
    Array.from({ length: 10 }, (_, i) =>
      Array.from(real.data.subarray(((i + 1) % 10) * 8, ((i + 1) % 10) * 8 + 8)),
    ),
  );
  const wrong = metricValues(spec.evaluate!.metrics[3], 'facerec', {
    generated: shifted,
    real,
    identities: ids,
  });
  assert.equal(wrong[0].value, 0);
});
