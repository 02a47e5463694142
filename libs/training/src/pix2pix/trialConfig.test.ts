import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { loadSizeOf, parseTrialConfig, TrialConfigSchema } from './trialConfig.js';
import { lrFactor } from './lrSchedule.js';

const base = { model: 'unet', data: { root: '/d' }, run_dir: '/r' };
const invalid = (input: unknown, re: RegExp) =>
  assert.throws(
    () => parseTrialConfig(input),
    (e: unknown) =>
      e instanceof FidlabError && e.code === ErrorCode.INVALID_CONFIG && re.test(e.message),
  );

test('defaults are pix2pix: 256 px, ngf 64 (32 for the VAE), Adam 2e-4 / 0.5, lambda 100, vanilla', () => {
  const c = parseTrialConfig(base);
  assert.equal(c.size, 256);
  assert.equal(c.ngf, 64);
  assert.equal(c.ndf, 64);
  assert.equal(c.lr, 2e-4);
  assert.equal(c.beta1, 0.5);
  assert.equal(c.lambda_l1, 100);
  assert.equal(c.gan_mode, 'vanilla');
  assert.equal(c.batch_size, 1);
  assert.equal(c.data.split, 'train');
  assert.equal(loadSizeOf(c), 286);
  assert.equal(parseTrialConfig({ ...base, model: 'vae' }).ngf, 32);
  assert.equal(loadSizeOf(parseTrialConfig({ ...base, size: 32 })), 36);
});

test('bad trials name the field: unknown model, size, unknown key, no epochs', () => {
  invalid({ ...base, model: 'resnet' }, /model:/);
  invalid({ ...base, size: 100 }, /power of two, got 100/);
  invalid({ ...base, model: 'vae', size: 32 }, /too small for model 'vae' \(minimum 64\)/);
  invalid({ ...base, gan_mode: 'wgan' }, /gan_mode/);
  invalid({ ...base, learning_rate: 1 }, /learning_rate|unrecognized/i);
  invalid({ ...base, epochs: 0, epochs_decay: 0 }, /at least 1/);
  // The exported schema validates sweep parameters on its own (partial trials included).
  assert.equal(TrialConfigSchema.partial().safeParse({ lr: -1 }).success, false);
  assert.equal(TrialConfigSchema.partial().safeParse({ lr: 1e-3, ngf: 32 }).success, true);
});

test('linear LR policy: flat for `epochs`, then down towards 0 over `epochs_decay`', () => {
  const got = [1, 2, 3, 4, 5, 6].map((e) => lrFactor(e, 2, 4));
  [1, 1, 0.8, 0.6, 0.4, 0.2].forEach((x, i) => assert.ok(Math.abs(got[i] - x) < 1e-12, `${got}`));
  assert.equal(lrFactor(100, 100, 100), 1);
  assert.ok(Math.abs(lrFactor(200, 100, 100) - 1 / 101) < 1e-12);
});
