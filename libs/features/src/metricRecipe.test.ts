import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFidlabError } from '@fidlab/base';
import { INCEPTION_DIMS, VGGFACE_TAPS } from '@fidlab/models';
import {
  allRecipesMatch,
  extractorNameProblem,
  formatExtractor,
  INCEPTION_TAP_DIMS,
  metricRecipeSchema,
  parseExtractorName,
  recipeId,
  recipeKey,
  recipeOf,
  recipesMatch,
  VGGFACE_LAYERS,
  type ValueRecipe,
} from './metricRecipe.js';

test('the name lists are the networks own', () => {
  assert.deepEqual([...INCEPTION_TAP_DIMS], [...INCEPTION_DIMS]);
  assert.deepEqual([...VGGFACE_LAYERS], Object.keys(VGGFACE_TAPS));
});

test('every extractor name form parses to a typed recipe and formats back to its canonical name', () => {
  const cases: [string, string, object][] = [
    ['inception', 'inception:2048', { family: 'inception', dims: 2048 }],
    ['inception-pool3', 'inception:2048', { family: 'inception', dims: 2048 }],
    ['inception:pool3', 'inception:2048', { family: 'inception', dims: 2048 }],
    ['inception:768', 'inception:768', { family: 'inception', dims: 768 }],
    ['vggface:pool5-avg', 'vggface:pool5-avg', { family: 'vggface', layer: 'pool5-avg' }],
    ['facerec', 'facerec', { family: 'facerec', layer: 'embedding' }],
    ['facerec:embedding', 'facerec', { family: 'facerec', layer: 'embedding' }],
    ['facerec:pool', 'facerec:pool', { family: 'facerec', layer: 'pool' }],
    [
      'generator:runs/a/checkpoints/epoch-0003:en7',
      'generator:runs/a/checkpoints/epoch-0003:en7',
      { family: 'generator', checkpoint: 'runs/a/checkpoints/epoch-0003', tap: 'en7', pool: false },
    ],
    [
      'generator:c:/x:mu:avg',
      'generator:c:/x:mu:avg',
      { family: 'generator', checkpoint: 'c:/x', tap: 'mu', pool: true },
    ],
    [
      'identity:runs/id/checkpoints/epoch-0001:fc7',
      'identity:runs/id/checkpoints/epoch-0001:fc7',
      { family: 'identity', checkpoint: 'runs/id/checkpoints/epoch-0001', layer: 'fc7' },
    ],
  ];
  for (const [name, canonical, recipe] of cases) {
    assert.equal(extractorNameProblem(name), null, name);
    assert.deepEqual(parseExtractorName(name), recipe, name);
    assert.equal(formatExtractor(parseExtractorName(name)), canonical, name);
    assert.deepEqual(parseExtractorName(canonical), recipe, canonical);
  }
});

test('near misses are refused with the name and what is expected', () => {
  const cases: [string, RegExp][] = [
    ['inception:1000', /unknown extractor 'inception:1000': the dims must be one of 64, 192/],
    ['inception-pool3:x', /unknown feature extractor 'inception-pool3:x'; known: inception, /],
    ['vggface', /unknown extractor 'vggface': the layer must be one of conv5_3, /],
    ['vggface:fc9', /'vggface:fc9': the layer must be one of/],
    ['facerec:x', /unknown extractor 'facerec:x': unknown layer 'x'/],
    ['generator:dir', /'generator:dir': expected generator:<checkpoint-dir>:<layer>\[:avg\]/],
    ['generator::en7', /expected generator:<checkpoint-dir>/],
    ['identity:d:fc7:avg', /':avg' applies to generator taps only/],
    ['clip', /unknown feature extractor 'clip'; known: inception, inception:64, .*vggface:fc6/],
  ];
  for (const [name, re] of cases) {
    assert.match(extractorNameProblem(name) ?? '', re, name);
    assert.throws(
      () => parseExtractorName(name),
      (e) => isFidlabError(e) && e.code === 'INVALID_CONFIG' && re.test(e.message),
    );
  }
});

test('metric recipes: a discriminated union on kind with each kind its own options', () => {
  assert.ok(
    metricRecipeSchema.safeParse({ kind: 'fid', extractor: 'facerec', bootstrap: 50 }).success,
  );
  assert.ok(
    metricRecipeSchema.safeParse({
      kind: 'kid',
      extractor: 'inception',
      subset_size: 100,
      subsets: 10,
    }).success,
  );
  assert.ok(
    metricRecipeSchema.safeParse({ kind: 'rank-k', extractor: 'facerec', k: [1, 5] }).success,
  );
  // options of another kind, unknown kinds and bad extractor names are refused
  assert.ok(
    !metricRecipeSchema.safeParse({ kind: 'kid', extractor: 'facerec', bootstrap: 5 }).success,
  );
  assert.ok(!metricRecipeSchema.safeParse({ kind: 'fid', extractor: 'facerec', k: [1] }).success);
  assert.ok(!metricRecipeSchema.safeParse({ kind: 'is', extractor: 'facerec' }).success);
  const bad = metricRecipeSchema.safeParse({ kind: 'fid', extractor: 'vggface:fc9' });
  assert.ok(!bad.success && /vggface:fc9/.test(bad.error.issues[0].message));
});

const fid: ValueRecipe = {
  kind: 'fid',
  bootstrap: 50,
  seed: 0,
  extractor: { family: 'facerec', layer: 'embedding' },
  weights_sha256: 'a'.repeat(64),
  resize: { mode: 'pad-square-bilinear', size: 150 },
  protocol: 2,
  data: { split: 'test', max_images: null },
};

test('recipes match exactly when every field matches; a value without one matches nothing', () => {
  // key order does not matter
  const reordered = JSON.parse(
    JSON.stringify({ ...fid, data: { max_images: null, split: 'test' } }),
  );
  assert.ok(recipesMatch(fid, reordered));
  assert.equal(recipeKey(fid), recipeKey(reordered));
  assert.equal(recipeId(fid), recipeId(reordered));
  assert.match(recipeId(fid)!, /^[0-9a-f]{12}$/);
  for (const changed of [
    { ...fid, bootstrap: 0, seed: null },
    { ...fid, weights_sha256: 'b'.repeat(64) },
    { ...fid, resize: { mode: 'pad-square-bilinear', size: 112 } },
    { ...fid, protocol: 1 },
    { ...fid, data: { split: 'val', max_images: null } },
    { ...fid, extractor: { family: 'facerec', layer: 'pool' } },
  ]) {
    assert.ok(!recipesMatch(fid, changed), JSON.stringify(changed));
    assert.notEqual(recipeId(fid), recipeId(changed));
  }
  assert.ok(!recipesMatch(undefined, undefined));
  assert.ok(!recipesMatch(fid, { ...fid, kind: 'nope' }));
  assert.equal(recipeKey({ kind: 'fid' }), null);
  assert.deepEqual(recipeOf({ protocol: 2, recipe: fid }), fid);
  assert.equal(recipeOf({ protocol: 2 }), null);
  assert.ok(allRecipesMatch([fid, reordered]));
  assert.ok(!allRecipesMatch([fid, { ...fid, protocol: 1 }]));
  assert.ok(!allRecipesMatch([fid, null]));
  assert.ok(allRecipesMatch([]));
});
