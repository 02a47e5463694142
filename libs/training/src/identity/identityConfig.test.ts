import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFidlabError } from '@fidlab/base';
import { parseIdentityConfig } from './identityConfig.js';

test('identity config: defaults and errors name the field', () => {
  const probe = { dir: 'generated' };
  const c = parseIdentityConfig({ data: 'd', out: 'o', epochs: 2, lr: 1e-7, eval: { probe } });
  assert.equal(c.trial, 'identity');
  assert.equal(c.body.kind, 'facerec');
  assert.equal(c.body.inputSize, undefined); // the body's own: facerec 150, vggface 224
  assert.equal(c.checkpointEvery, 1);
  assert.deepEqual(c.eval.ks, [1, 5, 10]);
  assert.deepEqual(c.eval.gallery, { split: 'test', images: 'sketches' });
  assert.equal(c.optimizer, 'momentum');
  assert.deepEqual(c.eval.probe, { dir: 'generated' });
  assert.throws(
    () =>
      parseIdentityConfig({
        ...{ data: 'd', out: 'o', epochs: 1, lr: 1, eval: { probe } },
        ...{ frozen: 3, freezeThrough: 'fc' },
      }),
    (e) => isFidlabError(e) && /not both/.test(e.message),
  );
  const withSplit = { dir: 'g', split: 'test' };
  const c2 = parseIdentityConfig({
    data: 'd',
    out: 'o',
    epochs: 1,
    lr: 1,
    eval: { probe: withSplit },
  });
  assert.deepEqual(c2.eval.probe, withSplit);
  assert.throws(
    () => parseIdentityConfig({ data: 'd', out: 'o', epochs: 2, lr: 1 }),
    (e) => isFidlabError(e) && /eval/.test(e.message),
  );
  assert.throws(
    () => parseIdentityConfig({ data: 'd', out: 'o', epochs: 2, lr: -1, eval: { probe } }),
    (e) => isFidlabError(e) && e.code === 'INVALID_CONFIG' && /lr/.test(e.message),
  );
  assert.throws(
    () =>
      parseIdentityConfig({
        data: 'd',
        out: 'o',
        epochs: 2,
        lr: 1,
        eval: { probe },
        body: { kind: 'resnet' },
      }),
    (e) => isFidlabError(e) && /body.kind/.test(e.message),
  );
});
