import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { synthDataset } from '@fidlab/datasets';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  generateImages,
  loadCheckpoint,
  readCheckpoint,
  train,
  type EpochResult,
  type TrialConfigInput,
} from '../index.js';

// Tiny nets on the pure-JS cpu backend: 6 training pairs, batch 2, 3 steps per epoch.
let tmp = '';
let root = '';
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  tmp = mkdtempSync(join(tmpdir(), 'fidlab-train-'));
  root = join(tmp, 'synth');
  await synthDataset({ out: root, identities: 4, perIdentity: 2, size: 40, seed: 1 });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const runDir = (name: string) => join(tmp, name);
const small = (over: Partial<TrialConfigInput>): TrialConfigInput => ({
  model: 'unet',
  size: 32,
  ngf: 4,
  ndf: 4,
  epochs: 2,
  batch_size: 2,
  data: { root },
  run_dir: runDir('x'),
  ...over,
});
const metrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          epoch: number;
          losses: Record<string, number>;
          last: Record<string, number>;
        },
    );
const fileHashes = (ckDir: string) =>
  (
    JSON.parse(readFileSync(join(ckDir, 'manifest.json'), 'utf8')) as {
      files: { name: string; sha256: string }[];
    }
  ).files;
const isCode = (code: string, re: RegExp) => (e: unknown) =>
  e instanceof FidlabError && e.code === code && re.test(e.message);

describe('train', () => {
  test('reconstruction training on synthetic pairs: L1 falls, one checkpoint and metrics line per epoch', async () => {
    const dir = runDir('recon');
    // A crashed write from an earlier attempt: a fresh start clears it too, and says so.
    mkdirSync(join(dir, 'checkpoints', '.tmp-epoch-0001-4242-0badf00d'), { recursive: true });
    const epochs: EpochResult[] = [];
    const lines: string[] = [];
    const r = await train(small({ epochs: 4, lr: 2e-3, gan_mode: 'none', run_dir: dir }), {
      onEpoch: (e) => {
        epochs.push(e);
      },
      log: (l) => lines.push(l),
    });
    assert.equal(r.status, 'completed');
    assert.equal(
      lines[0],
      `${dir}: starting at epoch 1; removed 1 unfinished checkpoint write left by a crash: .tmp-epoch-0001-4242-0badf00d`,
    );
    assert.equal(r.epoch, 4);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), [
      'epoch-0001',
      'epoch-0002',
      'epoch-0003',
      'epoch-0004',
    ]);
    // keep_state 'last': older epochs keep only their generator (still loadable and verified).
    const files = (e: string) => readdirSync(join(dir, 'checkpoints', e)).sort();
    assert.deepEqual(files('epoch-0001'), [
      'generator.safetensors',
      'manifest.json',
      'pruned.json',
    ]);
    assert.ok(files('epoch-0004').includes('optimizer.safetensors'));
    const first = await loadCheckpoint(join(dir, 'checkpoints', 'epoch-0001'));
    assert.equal(first.epoch, 1);
    first.generator.dispose();
    const m = metrics(dir);
    assert.deepEqual(
      m.map((x) => x.epoch),
      [1, 2, 3, 4],
    );
    assert.ok(m[3].losses.L1 < 0.9 * m[0].losses.L1, `L1 ${m.map((x) => x.losses.L1)}`);
    assert.equal(epochs.length, 4);
    assert.equal(epochs[3].steps, 3);
    assert.match(epochs[3].sha256, /^[0-9a-f]{64}$/);
    assert.ok(epochs[3].bytes > 4 * 60_000);
    assert.equal(epochs[3].checkpointDir, join(dir, 'checkpoints', 'epoch-0004'));
  });

  test('exact resume: 2 epochs straight = 1 epoch + resume + 1 epoch (GAN, dropout, cpu)', async () => {
    // 64 px so that the U-Net has a dropout block; GAN on so D and both optimizers are saved.
    const cfg = small({ size: 64, ngf: 2, ndf: 2 });
    const straight = runDir('straight');
    const split = runDir('split');
    await train({ ...cfg, run_dir: straight });
    await train({ ...cfg, epochs: 1, run_dir: split });
    assert.deepEqual(readdirSync(join(split, 'checkpoints')), ['epoch-0001']);
    // A write of epoch 2 that crashed half way: resume removes it and says so.
    const crashed = join(split, 'checkpoints', '.tmp-epoch-0002-4242-0badf00d');
    mkdirSync(crashed);
    writeFileSync(join(crashed, 'generator.safetensors'), Buffer.alloc(1000));
    const lines: string[] = [];
    const r = await train({ ...cfg, run_dir: split, resume: true }, { log: (l) => lines.push(l) });
    assert.equal(r.resumedFrom, 1);
    assert.ok(!existsSync(crashed));
    assert.ok(
      lines.some((l) =>
        /^resuming .* \(epoch 1, step 3\); removed 1 unfinished checkpoint write left by a crash: \.tmp-epoch-0002-4242-0badf00d$/.test(
          l,
        ),
      ),
      lines.join('\n'),
    );
    const a = fileHashes(join(straight, 'checkpoints', 'epoch-0002'));
    const b = fileHashes(join(split, 'checkpoints', 'epoch-0002'));
    assert.deepEqual(
      a.map((f) => f.name),
      ['generator.safetensors', 'discriminator.safetensors', 'optimizer.safetensors'],
    );
    assert.deepEqual(b, a); // identical bytes: weights, BN statistics, optimizer moments
    const losses = (dir: string) => metrics(dir).map((x) => [x.epoch, x.losses, x.last]);
    assert.deepEqual(losses(split), losses(straight));
    // Resuming a finished run does nothing.
    const again = await train({ ...cfg, run_dir: split, resume: true });
    assert.equal(again.status, 'completed');
    assert.equal(again.epoch, 2);
  });

  test('NaN loss: the trial stops naming epoch and step, the last good checkpoint stays', async () => {
    const dir = runDir('nan');
    await train(small({ epochs: 1, gan_mode: 'none', run_dir: dir }));
    // A learning rate of 1e20 blows the weights up on the first update.
    await assert.rejects(
      train(small({ epochs: 2, gan_mode: 'none', lr: 1e20, run_dir: dir, resume: true })),
      isCode(ErrorCode.NOT_FINITE, /is NaN at epoch 2, step 2.*epoch-0001/),
    );
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['epoch-0001']);
    assert.equal((await readCheckpoint(join(dir, 'checkpoints', 'epoch-0001'))).manifest.epoch, 1);
  });

  test('refusals: another architecture on resume, checkpoints without resume, a bad dataset', async () => {
    const dir = runDir('recon');
    await assert.rejects(
      train(small({ epochs: 5, ngf: 8, gan_mode: 'none', run_dir: dir, resume: true })),
      isCode(
        ErrorCode.INVALID_CONFIG,
        /another architecture: ngf 4 \(checkpoint\) vs 8 \(this run\)/,
      ),
    );
    await assert.rejects(
      train(small({ epochs: 5, gan_mode: 'none', run_dir: dir })),
      isCode(ErrorCode.INVALID_CONFIG, /already has checkpoints/),
    );
    const bad = join(tmp, 'bad');
    cpSync(root, bad, { recursive: true });
    const sketches = join(bad, 'train', 'sketches');
    writeFileSync(join(sketches, readdirSync(sketches)[0]), 'not an image');
    await assert.rejects(
      train(small({ data: { root: bad }, run_dir: runDir('bad-run') })),
      isCode(ErrorCode.INVALID_INPUT, /failed the check/),
    );
    assert.equal(existsSync(runDir('bad-run')), false);
  });

  test('sketch2sketch trains on a folder of sketches alone; photo2sketch refuses it', async () => {
    const sk = join(tmp, 'sketches-only');
    for (const split of ['train', 'test']) {
      cpSync(join(root, split, 'sketches'), join(sk, split), { recursive: true });
    }
    const cfg = small({
      direction: 'sketch2sketch',
      epochs: 1,
      gan_mode: 'none',
      data: { root: sk },
    });
    const r = await train({ ...cfg, run_dir: runDir('sk') });
    assert.equal(r.epoch, 1);
    const out = join(tmp, 'sk-gen');
    const g = await generateImages({ checkpoint: r.lastCheckpoint!, out });
    assert.equal(g.written, readdirSync(join(sk, 'test')).length);
    await assert.rejects(
      train({ ...cfg, direction: 'photo2sketch', run_dir: runDir('sk2') }),
      isCode(ErrorCode.INVALID_INPUT, /unpaired images/),
    );
  });

  test('abort between steps: no partial checkpoint, status aborted', async () => {
    const ac = new AbortController();
    const dir = runDir('abort');
    const r = await train(small({ gan_mode: 'none', run_dir: dir }), {
      signal: ac.signal,
      onStep: (p) => {
        if (p.step === 1) ac.abort();
      },
    });
    assert.equal(r.status, 'aborted');
    assert.equal(r.epoch, 0);
    assert.equal(existsSync(join(dir, 'checkpoints', 'epoch-0001')), false);
  });

  test('a VAE trains with its KL term; no tensors outlive train() and loadCheckpoint', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const dir = runDir('vae');
    const e: EpochResult[] = [];
    await train(
      small({ model: 'vae', size: 64, ngf: 2, epochs: 1, gan_mode: 'none', run_dir: dir }),
      {
        onEpoch: (x) => {
          e.push(x);
        },
      },
    );
    assert.ok(e[0].losses.KL > 0 && Number.isFinite(e[0].losses.KL));
    const { generator } = await loadCheckpoint(e[0].checkpointDir);
    assert.ok(generator.tapNames.includes('mu'));
    generator.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });
});

describe('checkpoints and generate', () => {
  test('loadCheckpoint gives the trained generator with its taps; a damaged file is refused', async () => {
    const ck = join(runDir('recon'), 'checkpoints', 'epoch-0004');
    const { config, generator, epoch } = await loadCheckpoint(ck);
    assert.equal(epoch, 4);
    assert.equal(config.ngf, 4);
    assert.deepEqual(generator.tapNames, ['en1', 'en2', 'en3', 'en4', 'en5']);
    tf.tidy(() => {
      const { output, taps } = generator.apply(tf.zeros([1, 32, 32, 3]), {
        training: false,
        taps: ['en4'],
      });
      assert.deepEqual(output.shape, [1, 32, 32, 3]);
      assert.deepEqual(taps.en4.shape, [1, 2, 2, 32]);
    });
    generator.dispose();
    const damaged = join(tmp, 'damaged');
    cpSync(ck, damaged, { recursive: true });
    const f = join(damaged, 'generator.safetensors');
    const buf = readFileSync(f);
    buf[buf.length - 1] ^= 1;
    writeFileSync(f, buf);
    await assert.rejects(
      loadCheckpoint(damaged),
      isCode(ErrorCode.BAD_FILE_FORMAT, /does not match its manifest/),
    );
    await assert.rejects(loadCheckpoint(tmp), isCode(ErrorCode.FILE_NOT_FOUND, /not a checkpoint/));
  });

  test('generateImages writes one PNG per test input, named after it, at the model size', async () => {
    const out = join(tmp, 'gen');
    const ck = join(runDir('recon'), 'checkpoints', 'epoch-0004');
    const r = await generateImages({ checkpoint: ck, split: 'test', out, evalMode: true });
    const photos = readdirSync(join(root, 'test', 'photos')).map((n) =>
      n.replace(/\.[^.]+$/, '.png'),
    );
    assert.equal(r.written, photos.length);
    assert.deepEqual(readdirSync(out).sort(), photos.sort());
    const meta = await sharp(join(out, photos[0])).metadata();
    assert.equal(meta.width, 32);
    assert.equal(meta.height, 32);
    // Eval mode is deterministic: a second run writes the same pixels.
    const out2 = join(tmp, 'gen2');
    await generateImages({ checkpoint: ck, split: 'test', out: out2, evalMode: true });
    assert.deepEqual(readFileSync(join(out2, photos[0])), readFileSync(join(out, photos[0])));
  });
});
