import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FidlabError } from '@fidlab/base';
import { checkRunInput, parseSweepSpec, sweepSpecChanges } from '../src/index.js';

const raw = {
  name: 'cmp',
  data: { root: 'data/x', size: 64 },
  parameters: { lr: { values: [1e-4, 2e-4] } },
  fixed: { model: 'unet', epochs: 2, epochs_decay: 0 },
  evaluate: { metrics: [{ name: 'fid', kind: 'fid', extractor: 'facerec' }] },
  select: { metric: 'fid' },
};

test('a stored spec equals the same file parsed again, defaults or not; a change is named', () => {
  const spec = parseSweepSpec(raw);
  assert.deepEqual(sweepSpecChanges(spec, spec), []);
  // Stored before defaults were filled in (or before a default was added): still the same.
  assert.deepEqual(sweepSpecChanges(raw, spec), []);
  const changed = parseSweepSpec({ ...raw, fixed: { ...raw.fixed, epochs: 3 }, seed: 4 });
  assert.deepEqual(sweepSpecChanges(spec, changed), ['fixed.epochs', 'seed']);
});

test('run inputs: keys are never paths, parameters are the trial parameters with their types', () => {
  checkRunInput({ key: '0123abcd', parameters: { lr: 1e-4, model: 'vae' } }, 'runs[0]');
  for (const [run, message] of [
    [{ key: '../x', parameters: {} }, /runs\[0\]\.key: "\.\.\/x" is not a run key/],
    [{ key: 'a/b', parameters: {} }, /is not a run key/],
    [{ key: 'a..b', parameters: {} }, /is not a run key/],
    [{ parameters: { model: 'nosuch' } }, /runs\[0\]\.parameters\.model: "nosuch"/],
    [{ parameters: { epochs: -5 } }, /runs\[0\]\.parameters\.epochs: -5/],
    [{ parameters: { bogus: 1 } }, /runs\[0\]\.parameters\.bogus: unknown trial parameter/],
  ] as const)
    assert.throws(
      () => checkRunInput(run, 'runs[0]'),
      (e: unknown) => e instanceof FidlabError && message.test(e.message),
    );
});
