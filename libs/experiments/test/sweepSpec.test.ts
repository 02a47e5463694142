import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFidlabError } from '@fidlab/base';
import { describeTrial, expandTrials, parseSweepText, extractorNameProblem } from '../src/index.js';

const ISSUE_EXAMPLE = `name: cufs-generators
data: { root: data/cufs, layout: paired, size: 256 }
method: grid            # grid | random (with count and seed)
parameters:
  model: { values: [unet, unet-noskip, vae] }
  lr: { values: [2e-4, 1e-4] }
  seed: { values: [1, 2] }
fixed: { direction: photo2sketch, epochs: 100, epochs_decay: 100, batch_size: 1 }
evaluate:
  every: 1
  split: test
  metrics:
    - { name: fid_inception, kind: fid, extractor: inception, bootstrap: 200 }
    - { name: kid_inception, kind: kid, extractor: inception }
    - { name: fid_vgg_fc6,  kind: fid, extractor: "vggface:fc6" }
    - { name: rank_facerec, kind: rank-k, extractor: facerec, k: [1, 5, 10] }
    - { name: fid_ae_en7, kind: fid, extractor: { best: { sweep: sketch-ae, metric: fid_inception }, tap: en7 } }
select: { metric: fid_inception, goal: min }
`;

/** The error message parseSweepText throws for `text`. */
function errorOf(text: string): string {
  try {
    parseSweepText(text, 'sweep.yaml');
  } catch (e) {
    assert.ok(isFidlabError(e), `expected a FidlabError, got ${e}`);
    assert.equal(e.code, 'INVALID_CONFIG');
    return e.message;
  }
  assert.fail('expected the sweep to be rejected');
}

test('the issue example parses, with defaults filled in', () => {
  const s = parseSweepText(ISSUE_EXAMPLE);
  assert.equal(s.name, 'cufs-generators');
  assert.equal(s.trial, 'pix2pix');
  assert.equal(s.data.size, 256);
  assert.equal(s.evaluate!.metrics.length, 5);
  assert.deepEqual(s.evaluate!.metrics[4].extractor, {
    best: { sweep: 'sketch-ae', metric: 'fid_inception' },
    tap: 'en7',
    pool: false,
  });
  assert.deepEqual(s.select, { metric: 'fid_inception', goal: 'min' });
});

test('a grid expands to the cartesian product in file order with stable keys', () => {
  const s = parseSweepText(ISSUE_EXAMPLE);
  const trials = expandTrials(s);
  assert.equal(trials.length, 12);
  assert.deepEqual(trials[0].swept, { model: 'unet', lr: 2e-4, seed: 1 });
  assert.deepEqual(trials[1].swept, { model: 'unet', lr: 2e-4, seed: 2 });
  assert.deepEqual(trials[11].swept, { model: 'vae', lr: 1e-4, seed: 2 });
  assert.equal(trials[0].parameters.epochs, 100);
  assert.equal(new Set(trials.map((t) => t.key)).size, 12);
  // Keys do not depend on the order parameters are written in.
  const reordered = ISSUE_EXAMPLE.replace(
    '  model: { values: [unet, unet-noskip, vae] }\n  lr: { values: [2e-4, 1e-4] }',
    '  lr: { values: [2e-4, 1e-4] }\n  model: { values: [unet, unet-noskip, vae] }',
  );
  const keys2 = new Set(expandTrials(parseSweepText(reordered)).map((t) => t.key));
  assert.deepEqual(keys2, new Set(trials.map((t) => t.key)));
  assert.equal(describeTrial(trials[0]), 'model=unet lr=0.0002 seed=1');
});

test('random sweeps draw count trials reproducibly from the seed, ranges included', () => {
  const text = ISSUE_EXAMPLE.replace(
    'method: grid ',
    'method: random\ncount: 5\nseed: 7\n',
  ).replace('  lr: { values: [2e-4, 1e-4] }', '  lr: { min: 1e-5, max: 1e-3, scale: log }');
  const a = expandTrials(parseSweepText(text));
  const b = expandTrials(parseSweepText(text));
  assert.deepEqual(a, b);
  assert.ok(a.length >= 1 && a.length <= 5);
  for (const t of a) {
    const lr = t.parameters.lr as number;
    assert.ok(lr >= 1e-5 && lr <= 1e-3, `lr ${lr} out of range`);
  }
  const other = expandTrials(parseSweepText(text.replace('seed: 7', 'seed: 8')));
  assert.notDeepEqual(
    a.map((t) => t.parameters.lr),
    other.map((t) => t.parameters.lr),
  );
});

test('a wrongly typed value is named by its path and line', () => {
  const msg = errorOf(ISSUE_EXAMPLE.replace('[2e-4, 1e-4]', '[2e-4, fast]'));
  assert.match(msg, /^sweep\.yaml:6: parameters\.lr\.values\[1\]: /);
});

test('unknown keys, parameters, models and extractors are named', () => {
  assert.match(
    errorOf(ISSUE_EXAMPLE.replace('layout: paired', 'layout: paired, sizee: 3')),
    /sweep\.yaml:2: data\.sizee: unknown key 'sizee'/,
  );
  assert.match(
    errorOf(
      ISSUE_EXAMPLE.replace('  seed: { values: [1, 2] }', '  learning_rate: { values: [1] }'),
    ),
    /parameters\.learning_rate: unknown trial parameter 'learning_rate' \(known: model, /,
  );
  assert.match(
    errorOf(ISSUE_EXAMPLE.replace('unet-noskip, vae]', 'unet-noskip, resnet]')),
    /sweep\.yaml:5: parameters\.model\.values\[2\]: .*unet/,
  );
  assert.match(
    errorOf(ISSUE_EXAMPLE.replace('extractor: "vggface:fc6"', 'extractor: "vggface:fc9"')),
    /evaluate\.metrics\[2\]\.extractor: unknown extractor 'vggface:fc9': the layer must be one of conv5_3/,
  );
  assert.match(
    errorOf(
      ISSUE_EXAMPLE.replace('metric: fid_inception, goal: min', 'metric: fid_nope, goal: min'),
    ),
    /select\.metric: 'fid_nope' is not one of the sweep's metrics/,
  );
  assert.match(errorOf('name: x\n  bad: [\n'), /^sweep\.yaml:\d+:\d+: not valid YAML/);
  assert.match(
    errorOf(ISSUE_EXAMPLE.replace('size: 256', 'size: 100')),
    /data\.size: must be a power of two/,
  );
});

test('extractor names: the issue forms pass, near misses do not', () => {
  for (const ok of [
    'inception',
    'inception-pool3',
    'inception:768',
    'vggface:pool5-avg',
    'facerec',
    'generator:runs/a/checkpoints/epoch-0003:en7',
    'identity:runs/id/checkpoints/epoch-0001:fc7',
  ])
    assert.equal(extractorNameProblem(ok), null, ok);
  for (const bad of ['inception:1000', 'vggface', 'facerec:x', 'generator:dir', 'clip'])
    assert.notEqual(extractorNameProblem(bad), null, bad);
});

test('identity sweeps: their own section and parameters, no evaluate', () => {
  const base = `name: ids
trial: identity
data: { root: d, size: 64 }
fixed: { body: facerec, epochs: 3 }
identity: { probe: { split: test, images: photos } }
select: { metric: rank_1, goal: max }
`;
  const s = parseSweepText(base);
  assert.equal(s.trial, 'identity');
  assert.deepEqual(s.identity?.ks, [1, 5, 10]);
  assert.match(
    errorOf(base.replace('body: facerec', 'model: unet')),
    /fixed\.model: 'model' is not an identity trial parameter/,
  );
  assert.match(errorOf(base.replace(/identity: .*\n/, '')), /identity: an identity sweep needs/);
  assert.match(
    errorOf(base.replace('metric: rank_1', 'metric: fid')),
    /select\.metric: 'fid' is not one of the sweep's metrics \(rank_1, rank_5, rank_10, train_accuracy, loss\)/,
  );
  assert.match(
    errorOf(ISSUE_EXAMPLE.replace(/evaluate:[\s\S]*select/, 'select')),
    /evaluate: a pix2pix sweep needs an evaluate section/,
  );
});

test('every enum and type error names the offending value', () => {
  const cases: [string, string, RegExp][] = [
    [
      'unet-noskip, vae]',
      'nosuchmodel, vae]',
      /sweep\.yaml:5: parameters\.model\.values\[1\]: 'nosuchmodel' is not one of unet \| unet-noskip \| vae/,
    ],
    ['[2e-4, 1e-4]', '[2e-4, fast]', /parameters\.lr\.values\[1\]: expected a number, got 'fast'/],
    [
      'seed: { values: [1, 2] }',
      'seed: { values: [1, -2] }',
      /seed\.values\[1\]: must be >= 0, got -2/,
    ],
    [
      'direction: photo2sketch',
      'direction: up',
      /fixed\.direction: 'up' is not one of photo2sketch \| sketch2sketch/,
    ],
    ['batch_size: 1 }', 'batch_size: 0.5 }', /fixed\.batch_size: expected an integer, got 0\.5/],
    ['method: grid ', 'method: gird ', /method: 'gird' is not one of grid \| random/],
    [
      'layout: paired',
      'layout: pairs',
      /data\.layout: 'pairs' is not one of auto \| paired \| aligned \| single/,
    ],
    [
      'kind: kid',
      'kind: kidd',
      /evaluate\.metrics\[1\]\.kind: 'kidd' is not one of fid \| kid \| rank-k/,
    ],
    ['every: 1', 'every: 0', /evaluate\.every: must be >= 1, got 0/],
    ['goal: min }', 'goal: best }', /select\.goal: 'best' is not one of min \| max/],
    [
      'name: cufs-generators',
      'name: "cufs generators"',
      /name: use letters, .*, got 'cufs generators'/,
    ],
    ['size: 256', 'size: 100', /data\.size: must be a power of two \(32, 64, 128, 256\), got 100/],
    [
      'k: [1, 5, 10]',
      'k: [1, five]',
      /evaluate\.metrics\[3\]\.k\[1\]: expected a number, got 'five'/,
    ],
    [
      'extractor: inception }',
      'extractor: inception, bootstrap: 5 }',
      /evaluate\.metrics\[1\]\.bootstrap: unknown key 'bootstrap' \(an option of fid metrics\)/,
    ],
    ['tap: en7', 'tap: 7', /evaluate\.metrics\[4\]\.extractor\.tap: expected a string, got 7/],
  ];
  for (const [from, to, re] of cases) {
    assert.ok(ISSUE_EXAMPLE.includes(from), from);
    assert.match(errorOf(ISSUE_EXAMPLE.replace(from, to)), re);
  }
});

test('impossible trials are refused when the sweep is parsed, naming the field', () => {
  assert.match(
    errorOf(ISSUE_EXAMPLE.replace('epochs: 100, epochs_decay: 100', 'epochs: 0, epochs_decay: 0')),
    /sweep\.yaml:8: fixed\.epochs: epochs \+ epochs_decay must be at least 1 \(trial model=unet /,
  );
  // swept: the value that makes a trial impossible is named by its index
  const swept = ISSUE_EXAMPLE.replace(
    'epochs: 100, epochs_decay: 100, ',
    'epochs_decay: 0, ',
  ).replace(
    '  seed: { values: [1, 2] }',
    '  seed: { values: [1, 2] }\n  epochs: { values: [3, 0] }',
  );
  assert.match(
    errorOf(swept),
    /parameters\.epochs\.values\[1\]: epochs \+ epochs_decay must be at least 1/,
  );
  // epochs: 0 alone is fine while epochs_decay gives the trial an epoch
  parseSweepText(
    ISSUE_EXAMPLE.replace('epochs: 100, epochs_decay: 100', 'epochs: 0, epochs_decay: 3'),
  );
  const identity = `name: ids
trial: identity
data: { root: d, size: 64 }
fixed: { body: facerec, epochs: 0 }
identity: { probe: { split: test, images: photos } }
select: { metric: rank_1, goal: max }
`;
  assert.match(errorOf(identity), /sweep\.yaml:4: fixed\.epochs: epochs: must be > 0, got 0/);
});
