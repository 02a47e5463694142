import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { synthDataset } from '@fidlab/datasets';
import { runCli } from '../main.js';
import { captureIo } from '@fidlab/testing';
import { formatDuration, progressLine } from './trainProgress.js';

let tmp = '';
let root = '';
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fidlab-cli-train-'));
  root = join(tmp, 'synth');
  await synthDataset({ out: root, identities: 4, perIdentity: 2, size: 40, seed: 2 });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(...argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

test('fidlab train, --resume with saved settings, then fidlab generate', async () => {
  const out = join(tmp, 'run');
  // (ordered flags as in the contract; tiny nets on the cpu backend)
  const common = ['--backend', 'cpu', '--batch-size', '2', '--gan-mode', 'none'];
  let r = await run(
    'train',
    '--data',
    root,
    '--model',
    'unet',
    '--direction',
    'sketch2sketch',
    '--size',
    '32',
    '--epochs',
    '1',
    '--ngf',
    '4',
    '--seed',
    '3',
    '--out',
    out,
    '--json',
    ...common,
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /tfjs backend 'cpu'/);
  assert.match(r.err, /epoch 1\/1 \[#{20}\] step 3\/3/); // plain progress lines off a TTY
  const line = JSON.parse(r.out) as { epoch: number; checkpoint: string; sha256: string };
  assert.equal(line.epoch, 1);
  assert.equal(line.checkpoint, join(out, 'checkpoints', 'epoch-0001'));

  r = await run('train', '--out', out, '--resume', '--epochs', '2', '--backend', 'cpu');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /resuming .* \(epoch 1, step 3\)/);
  assert.match(r.err, /note: resuming with changed settings: epochs/);
  assert.deepEqual(readdirSync(join(out, 'checkpoints')), ['epoch-0001', 'epoch-0002']);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(metrics.length, 2);

  const gen = join(tmp, 'gen');
  r = await run(
    'generate',
    '--checkpoint',
    out,
    '--split',
    'test',
    '--out',
    gen,
    '--backend',
    'cpu',
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote 2 images \(epoch 2\)/);
  // sketch2sketch names outputs after the input sketches
  const sketches = readdirSync(join(root, 'test', 'sketches')).map((n) =>
    n.replace(/\.\w+$/, '.png'),
  );
  assert.deepEqual(readdirSync(gen).sort(), sketches.sort());
});

test('fidlab train: bad usage and bad config exit with a named problem', async () => {
  let r = await run('train', '--data', root, '--model', 'resnet', '--out', join(tmp, 'x'));
  assert.equal(r.code, 2);
  assert.match(r.err, /--model must be one of unet, unet-noskip, vae, got 'resnet'/);
  r = await run('train', '--preset', 'huge', '--data', root, '--out', join(tmp, 'x'));
  assert.equal(r.code, 2);
  assert.match(r.err, /--preset must be one of tiny, pix2pix, got 'huge'/);
  r = await run(
    'train',
    '--data',
    root,
    '--model',
    'unet',
    '--size',
    '48',
    '--out',
    join(tmp, 'x'),
    '--backend',
    'cpu',
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /size must be a power of two, got 48/);
  r = await run(
    'train',
    '--data',
    root,
    '--model',
    'vae',
    '--size',
    '32',
    '--out',
    join(tmp, 'x'),
    '--backend',
    'cpu',
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /too small for model 'vae'/);
  assert.equal(existsSync(join(tmp, 'x', 'checkpoints')), false);
  r = await run('generate', '--checkpoint', tmp, '--out', join(tmp, 'y'), '--backend', 'cpu');
  assert.equal(r.code, 1);
  assert.match(r.err, /not a checkpoint/);
});

test('progress line: bar, losses, speed, ETA of the whole run', () => {
  const l = progressLine({
    epoch: 2,
    epochs: 3,
    step: 5,
    steps: 10,
    globalStep: 15,
    losses: { G_L1: 12.345, L1: 0.12345, D_real: 0.5 },
    stepsPerSecond: 2,
  });
  assert.equal(
    l,
    'epoch 2/3 [##########----------] step 5/10  G_L1 12.35 D_real 0.5000  2.00 steps/s  ETA 8s',
  );
  assert.equal(formatDuration(75), '1m15s');
  assert.equal(formatDuration(3725), '1h02m');
});
