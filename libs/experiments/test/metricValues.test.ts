import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frechetDistance, fromRows, type Matrix } from '@fidlab/fid-core';
import { parseExtractorName, recipeOf, recipesMatch } from '@fidlab/features';
import { identityMetricValues, metricValues, parseSweepText } from '../src/index.js';

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

test('every value carries its complete recipe; the numbers do not depend on it', () => {
  const gen = blob(30, 6, 0.3, 4);
  const real = blob(30, 6, 0, 5);
  const f = {
    generated: gen,
    real,
    identities: Array.from({ length: 30 }, (_, i) => `id${i % 10}`),
  };
  const features = {
    extractor: parseExtractorName('facerec'),
    weights_sha256: 'c'.repeat(64),
    resize: { mode: 'pad-square-bilinear' as const, size: 150 },
    protocol: 2,
    data: { split: 'test', max_images: null },
  };
  const all = spec.evaluate!.metrics.flatMap((m) => metricValues(m, 'facerec', f, features));
  const bare = spec.evaluate!.metrics.flatMap((m) => metricValues(m, 'facerec', f));
  assert.deepEqual(
    all.map((v) => v.value),
    bare.map((v) => v.value),
  );
  for (const v of all) assert.ok(recipeOf(v.extra), `${v.name} has a valid recipe`);
  assert.equal(recipeOf(bare[0].extra), null);
  const [plain, ci, k, r1, r3] = all.map((v) => recipeOf(v.extra)!);
  assert.deepEqual(plain, { kind: 'fid', bootstrap: 0, seed: null, ...features });
  assert.deepEqual(ci, { kind: 'fid', bootstrap: 20, seed: 0, ...features });
  assert.deepEqual(k, { kind: 'kid', subsets: 100, subset_size: 30, seed: 0, ...features });
  assert.deepEqual(
    [r1.kind, r1.kind === 'rank-k' && r1.k, r3.kind === 'rank-k' && r3.k],
    ['rank-k', 1, 3],
  );
  // fid with and without bootstrap are different recipes; the same metric twice is one
  assert.ok(!recipesMatch(plain, ci));
  assert.ok(
    recipesMatch(
      plain,
      recipeOf(metricValues(spec.evaluate!.metrics[0], 'facerec', f, features)[0].extra),
    ),
  );
  // kid's options are the recipe's: a smaller subset is another recipe (and another value)
  const small = parseSweepText(`name: t
data: { root: d, size: 32 }
evaluate:
  metrics:
    - { name: kid_x, kind: kid, extractor: facerec, subset_size: 10, subsets: 7 }
select: { metric: kid_x }
`).evaluate!.metrics[0];
  const [ks] = metricValues(small, 'facerec', f, features);
  assert.deepEqual(recipeOf(ks.extra), {
    kind: 'kid',
    subsets: 7,
    subset_size: 10,
    seed: 0,
    ...features,
  });
  assert.ok(!recipesMatch(k, recipeOf(ks.extra)));
});

test('identity trial values carry the recipe of the trial network that measured them', () => {
  const e = {
    epoch: 2,
    loss: 1.5,
    trainAccuracy: 0.25,
    rank: { '1': 0.5, '5': 1 },
    cmc: [0.5, 1],
    checkpointDir: null,
    sha256: null,
    bytes: 0,
    seconds: 1,
  };
  const probe = { split: 'test', images: 'photos' as const };
  const values = identityMetricValues(e, { body: { kind: 'facerec' }, eval: { probe } });
  assert.deepEqual(
    values.map((v) => [v.name, v.value]),
    [
      ['rank_1', 0.5],
      ['rank_5', 1],
      ['train_accuracy', 0.25],
      ['loss', 1.5],
    ],
  );
  const recipes = values.map((v) => recipeOf(v.extra));
  assert.ok(recipes.every((r) => r !== null));
  assert.deepEqual(recipes[0], {
    kind: 'rank-k',
    k: 1,
    extractor: { family: 'trial-network', body: 'facerec' },
    weights_sha256: null,
    resize: { mode: 'pad-square-bilinear', size: 150 },
    protocol: 1,
    data: { probe, gallery: null },
  });
  assert.deepEqual(
    recipes.map((r) => r!.kind),
    ['rank-k', 'rank-k', 'train-accuracy', 'train-loss'],
  );
  // another body or input size is another recipe
  const vgg = identityMetricValues(e, {
    body: { kind: 'vggface', inputSize: 64 },
    eval: { probe },
  });
  assert.deepEqual(recipeOf(vgg[0].extra)!.resize, { mode: 'bilinear-half-pixel', size: 64 });
  assert.ok(!recipesMatch(recipes[0], recipeOf(vgg[0].extra)));
});
