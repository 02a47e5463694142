import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { isFidlabError } from '@fidlab/base';
import { createGenerator } from '@fidlab/models';
import { synthDataset } from '@fidlab/datasets';
import { train } from '@fidlab/training';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createExtractor } from './registry.js';
import {
  createGeneratorTapExtractor,
  generatorTapFactory,
  type TappableGenerator,
} from './generatorTap.js';
import { parseExtractorName } from './metricRecipe.js';

/** en1: 2x2 average pool of the input; en2: en1 pooled again, channels tripled; mu: a vector. */
function fakeGenerator(size: number, inChannels: number): TappableGenerator & { seen: number[][] } {
  const seen: number[][] = [];
  return {
    config: { size, inChannels },
    tapNames: ['en1', 'en2', 'mu'],
    seen,
    apply(x, opts) {
      assert.equal(opts.training, false);
      seen.push(x.shape);
      const en1 = tf.avgPool(x, 2, 2, 'valid');
      const en2 = tf.tile(tf.avgPool(en1, 2, 2, 'valid'), [1, 1, 1, 3]);
      const mu = tf.mean(x, [1, 2]);
      const all: Record<string, tf.Tensor> = { en1, en2, mu };
      const taps: Record<string, tf.Tensor> = {};
      for (const t of opts.taps ?? []) taps[t] = all[t];
      return { output: x, taps };
    },
  };
}

test('generator tap: [0,1] -> [-1,1] at the checkpoint size, flattened or averaged', () => {
  const g = fakeGenerator(8, 3);
  const flat = createGeneratorTapExtractor(g, { tap: 'en1' });
  assert.equal(flat.dims, 4 * 4 * 3);
  assert.equal(flat.inputSize, 8);
  // A 16x16 constant image is resized to 8x8 (seen by the generator) and mapped to 2v - 1.
  const img = tf.fill([2, 16, 16, 3], 0.75) as tf.Tensor4D;
  const f = flat.extract(img);
  assert.deepEqual(f.shape, [2, 48]);
  assert.deepEqual(g.seen[g.seen.length - 1], [2, 8, 8, 3]);
  for (const v of f.dataSync()) assert.ok(Math.abs(v - 0.5) < 1e-6);

  const avg = createGeneratorTapExtractor(g, { tap: 'en2', avg: true });
  assert.equal(avg.dims, 9);
  const grad = tf.tidy(() =>
    tf.concat([tf.zeros([1, 8, 4, 3]), tf.ones([1, 8, 4, 3])], 2),
  ) as tf.Tensor4D;
  const a = avg.extract(grad).dataSync();
  for (const v of a) assert.ok(Math.abs(v - 0) < 1e-6); // mean of -1 and +1 halves
  const vec = createGeneratorTapExtractor(g, { tap: 'mu', avg: true });
  assert.equal(vec.dims, 3);
});

test('generator tap: one-channel generators get ITU-R 601 luma', () => {
  const g = fakeGenerator(4, 1);
  const ex = createGeneratorTapExtractor(g, { tap: 'mu' });
  assert.equal(ex.dims, 1);
  const red = tf.tidy(() =>
    tf.concat([tf.ones([1, 4, 4, 1]), tf.zeros([1, 4, 4, 2])], 3),
  ) as tf.Tensor4D;
  const v = ex.extract(red).dataSync()[0];
  assert.ok(Math.abs(v - (2 * 0.299 - 1)) < 1e-6, `${v}`);
});

test('generator tap: names, argument parsing and errors', async () => {
  assert.deepEqual(parseExtractorName('generator:runs/a/checkpoints/epoch-0002:en7'), {
    family: 'generator',
    checkpoint: 'runs/a/checkpoints/epoch-0002',
    tap: 'en7',
    pool: false,
  });
  assert.deepEqual(parseExtractorName('generator:c:/x:en7:avg'), {
    family: 'generator',
    checkpoint: 'c:/x',
    tap: 'en7',
    pool: true,
  });
  assert.throws(
    () => parseExtractorName('generator:en7'),
    (e) => isFidlabError(e) && e.code === 'INVALID_CONFIG' && /<checkpoint-dir>/.test(e.message),
  );
  assert.throws(
    () => createGeneratorTapExtractor(fakeGenerator(8, 3), { tap: 'en9' }),
    (e) => isFidlabError(e) && /en9/.test(e.message) && /en1, en2, mu/.test(e.message),
  );
  let disposed = 0;
  const ex = await generatorTapFactory(
    { family: 'generator', checkpoint: 'ckpt/epoch-0001', tap: 'en2', pool: true },
    {},
    async (dir) => {
      assert.equal(dir, 'ckpt/epoch-0001');
      return {
        epoch: 1,
        generator: Object.assign(fakeGenerator(8, 3), { dispose: () => disposed++ }),
      };
    },
  );
  assert.equal(ex.name, 'generator:ckpt/epoch-0001:en2:avg');
  assert.equal(ex.dims, 9);
  ex.dispose();
  assert.equal(disposed, 1);
});

test('generator tap: a real fidlab U-Net and VAE (en5 flattened and pooled, mu)', () => {
  const unet = createGenerator(
    { model: 'unet', size: 32, ngf: 4, inChannels: 3, outChannels: 3 },
    { seed: 1 },
  );
  const images = tf.randomUniform([2, 40, 40, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const flat = createGeneratorTapExtractor(unet, { tap: 'en5' });
  const avg = createGeneratorTapExtractor(unet, { tap: 'en5', avg: true });
  // en5 of a 32 px U-Net is 1x1 (five stride-2 convs): flattening and pooling agree.
  assert.equal(flat.dims, avg.dims);
  const a = flat.extract(images).arraySync();
  const b = avg.extract(images).arraySync();
  assert.equal(a.length, 2);
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < a[i].length; j++) assert.ok(Math.abs(a[i][j] - b[i][j]) < 1e-6);
  const en2 = createGeneratorTapExtractor(unet, { tap: 'en2' });
  assert.equal(en2.dims, 8 * 8 * 8); // 32 / 4 = 8 px, 2 * ngf channels
  // Deterministic in inference mode (no dropout).
  assert.deepEqual(en2.extract(images).arraySync(), en2.extract(images).arraySync());
  unet.dispose();
  const vae = createGenerator(
    { model: 'vae', size: 64, ngf: 4, inChannels: 1, outChannels: 1 },
    { seed: 1 },
  );
  const mu = createGeneratorTapExtractor(vae, { tap: 'mu' });
  assert.equal(mu.dims, 256);
  assert.deepEqual(mu.extract(images).shape, [2, 256]);
  vae.dispose();
});

test('generator tap: a checkpoint written by fidlab training, through the registry', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fidlab-gentap-'));
  try {
    const data = path.join(dir, 'data');
    await synthDataset({ out: data, identities: 2, perIdentity: 2, size: 32, seed: 1 });
    const run = path.join(dir, 'run');
    await train({
      model: 'unet',
      direction: 'sketch2sketch',
      size: 32,
      ngf: 4,
      ndf: 4,
      epochs: 1,
      gan_mode: 'none',
      data: { root: data, split: 'train' },
      run_dir: run,
    });
    const ckpt = path.join(run, 'checkpoints', 'epoch-0001');
    const ex = await createExtractor(`generator:${ckpt}:en3`);
    assert.equal(ex.name, `generator:${ckpt}:en3`);
    assert.equal(ex.dims, 4 * 4 * 16); // 32 / 2^3 px, 4 * ngf channels
    const f = ex.extract(tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D);
    assert.deepEqual(f.shape, [2, 256]);
    assert.ok(f.dataSync().every(Number.isFinite));
    ex.dispose();
    const pooled = await createExtractor(`generator:${ckpt}:en3:avg`);
    assert.equal(pooled.dims, 16);
    pooled.dispose();
    await assert.rejects(
      createExtractor(`generator:${ckpt}:en12`),
      (e) => isFidlabError(e) && e.code === 'INVALID_CONFIG' && /en1, en2/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
