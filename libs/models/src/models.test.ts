import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createRng, ErrorCode, FidlabError } from '@fidlab/base';
import {
  countGeneratorParams,
  createGenerator,
  createPatchGan,
  type ModelConfig,
  type ModelName,
} from './index.js';

before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const cfg = (model: ModelName, size: number, ngf: number): ModelConfig => ({
  model,
  size,
  ngf,
  inChannels: 3,
  outChannels: 3,
});

const throwsCode = (fn: () => unknown, code: string, re: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof FidlabError && e.code === code && re.test(e.message),
  );

describe('parameter counts equal pix2pix at 256 px', () => {
  test('unet_256, ngf 64: 54,413,955', () => {
    assert.equal(countGeneratorParams(cfg('unet', 256, 64)), 54_413_955);
  });
  test('3-layer PatchGAN, ndf 64, 6 input channels: 2,768,705', () => {
    const d = createPatchGan({ inChannels: 6, ndf: 64 }, { seed: 0, init: 'zeros' });
    assert.equal(d.params.countParams(), 2_768_705);
    d.dispose();
  });
  test('no-skip U-Net is smaller by exactly the skip halves of the decoder inputs', () => {
    // Each non-innermost up-conv (levels 1..7) loses the input channels the skip added:
    // ch(i) * cout * 16 weights, cout = ch(i-1) (3 at level 1).
    const ch = [3, 64, 128, 256, 512, 512, 512, 512, 512];
    let skipWeights = 0;
    for (let i = 1; i <= 7; i++) skipWeights += ch[i] * ch[i - 1] * 16;
    assert.equal(countGeneratorParams(cfg('unet-noskip', 256, 64)), 54_413_955 - skipWeights);
  });
  test("the seed's VAE at 256 px, ngf 32", () => {
    // Encoder convs 3x3 (+bias) and BN, two 8192->256 heads, eight 4x4 transposed convs (+bias).
    const enc = [3, 64, 128, 256, 512, 512, 512];
    let n = 0;
    for (let k = 1; k <= 6; k++) n += enc[k - 1] * enc[k] * 9 + enc[k] + 2 * enc[k];
    n += 2 * (8192 * 256 + 256);
    const dec = [256, 256, 256, 256, 256, 128, 64, 32, 3];
    for (let j = 1; j <= 8; j++) n += dec[j - 1] * dec[j] * 16 + dec[j] + (j < 8 ? 2 * dec[j] : 0);
    assert.equal(countGeneratorParams(cfg('vae', 256, 32)), n);
  });
});

describe('shapes', () => {
  for (const size of [32, 64]) {
    for (const model of ['unet', 'unet-noskip'] as const) {
      test(`${model} at ${size} px: output and en taps`, () => {
        const g = createGenerator(cfg(model, size, 4), { seed: 1 });
        const n = Math.log2(size);
        assert.deepEqual(
          g.tapNames,
          Array.from({ length: n }, (_, i) => `en${i + 1}`),
        );
        tf.tidy(() => {
          const x = tf.randomUniform([2, size, size, 3], -1, 1) as tf.Tensor4D;
          const { output, taps } = g.apply(x, { training: true, taps: g.tapNames });
          assert.deepEqual(output.shape, [2, size, size, 3]);
          for (let i = 1; i <= n; i++) {
            const c = 4 * Math.min(2 ** (i - 1), 8);
            assert.deepEqual(taps[`en${i}`].shape, [2, size >> i, size >> i, c]);
          }
          const out = output.dataSync();
          assert.ok(
            out.every((v) => v >= -1 && v <= 1),
            'tanh range',
          );
        });
        g.dispose();
      });
    }
  }
  test('vae at 64 px: mu/logvar [n, 256], encoder taps, output', () => {
    const g = createGenerator(cfg('vae', 64, 4), { seed: 1 });
    tf.tidy(() => {
      const x = tf.randomUniform([2, 64, 64, 3], -1, 1) as tf.Tensor4D;
      const { output, taps } = g.apply(x, { training: true, taps: ['mu', 'logvar', 'en6'] });
      assert.deepEqual(output.shape, [2, 64, 64, 3]);
      assert.deepEqual(taps.mu.shape, [2, 256]);
      assert.deepEqual(taps.logvar.shape, [2, 256]);
      assert.deepEqual(taps.en6.shape, [2, 1, 1, 64]);
    });
    g.dispose();
  });
  test('256 px constructs (unet, unet-noskip, vae, PatchGAN 30x30 output)', () => {
    for (const model of ['unet', 'unet-noskip', 'vae'] as const) {
      const g = createGenerator(cfg(model, 256, model === 'vae' ? 32 : 64), {
        seed: 0,
        init: 'zeros',
      });
      assert.equal(g.tapNames.includes(model === 'vae' ? 'mu' : 'en8'), true);
      g.dispose();
    }
    const d = createPatchGan({ inChannels: 6, ndf: 2 }, { seed: 0 });
    tf.tidy(() => {
      const y = d.apply(tf.zeros([1, 256, 256, 6]) as tf.Tensor4D, { training: true });
      assert.deepEqual(y.shape, [1, 30, 30, 1]);
    });
    d.dispose();
  });
});

describe('behaviour', () => {
  test('the same seed gives the same weights; another seed does not', () => {
    const a = createGenerator(cfg('unet', 32, 2), { seed: 7 });
    const b = createGenerator(cfg('unet', 32, 2), { seed: 7 });
    const c = createGenerator(cfg('unet', 32, 2), { seed: 8 });
    const w = (g: typeof a) => g.params.params.get('en3.conv.weight')!.dataSync();
    assert.deepEqual(w(a), w(b));
    assert.notDeepEqual(w(a), w(c));
    // normal(0, 0.02): the sample std of the largest tensor is close to 0.02.
    const v = Array.from(a.params.params.get('de1.conv.weight')!.dataSync());
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    assert.ok(Math.abs(sd - 0.02) < 0.003, `std ${sd}`);
    [a, b, c].forEach((g) => g.dispose());
  });

  test('dropout masks follow the Rng: same state, same output; eval mode is deterministic', () => {
    const g = createGenerator(cfg('unet', 64, 2), { seed: 3 });
    tf.tidy(() => {
      const x = tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
      const run = (seed: number) =>
        g.apply(x, { training: true, rng: createRng(seed) }).output.dataSync();
      assert.deepEqual(run(1), run(1));
      assert.notDeepEqual(run(1), run(2));
      const e1 = g.apply(x, { training: false }).output.dataSync();
      const e2 = g.apply(x, { training: false }).output.dataSync();
      assert.deepEqual(e1, e2);
    });
    g.dispose();
  });

  test('BatchNorm running statistics move only with updateStats', () => {
    const g = createGenerator(cfg('unet', 32, 2), { seed: 3 });
    const rm = () => g.params.buffers.get('en2.bn.running_mean')!.dataSync().slice();
    const before = rm();
    tf.tidy(() => {
      const x = tf.randomUniform([2, 32, 32, 3], -1, 1) as tf.Tensor4D;
      g.apply(x, { training: true });
      assert.deepEqual(rm(), before);
      g.apply(x, { training: true, updateStats: true });
    });
    assert.notDeepEqual(rm(), before);
    g.dispose();
  });

  test('bad configs: unknown model, size not a power of two, too small, unknown tap', () => {
    throwsCode(
      () => createGenerator(cfg('resnet' as ModelName, 64, 4), { seed: 0 }),
      ErrorCode.INVALID_CONFIG,
      /unknown model 'resnet' \(models: unet, unet-noskip, vae\)/,
    );
    throwsCode(
      () => createGenerator(cfg('unet', 48, 4), { seed: 0 }),
      ErrorCode.INVALID_CONFIG,
      /power of two, got 48/,
    );
    throwsCode(
      () => createGenerator(cfg('vae', 32, 4), { seed: 0 }),
      ErrorCode.INVALID_CONFIG,
      /too small for model 'vae' \(minimum 64\)/,
    );
    const g = createGenerator(cfg('unet', 32, 2), { seed: 0 });
    throwsCode(
      () => g.apply(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D, { training: false, taps: ['en9'] }),
      ErrorCode.INVALID_CONFIG,
      /unknown tap\(s\) en9/,
    );
    g.dispose();
  });
});
