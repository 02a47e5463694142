import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { synthDataset } from '@fidlab/datasets';
import { EVALUATION_PROTOCOL } from '@fidlab/experiments';
import { selectBackend } from '@fidlab/models';
import { train } from '@fidlab/training';
import { runEvaluator } from './main.js';

const tmp = mkdtempSync(join(tmpdir(), 'fidlab-evaluator-'));
const root = join(tmp, 'synth');
let checkpoint = '';

before(async () => {
  await selectBackend({ backend: 'wasm' });
  await synthDataset({
    out: root,
    identities: 3,
    perIdentity: 2,
    size: 32,
    seed: 5,
    splitBy: 'image',
  });
  const r = await train({
    model: 'unet',
    size: 32,
    ngf: 4,
    ndf: 4,
    epochs: 1,
    batch_size: 4,
    gan_mode: 'none',
    data: { root },
    run_dir: join(tmp, 'run'),
  });
  checkpoint = r.lastCheckpoint!;
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

function job(extra: Record<string, unknown> = {}) {
  const file = join(tmp, `job-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      checkpoint,
      data: { root, size: 32 },
      metrics: [
        { name: 'fid_face', kind: 'fid', extractor: 'facerec' },
        { name: 'rank_face', kind: 'rank-k', extractor: 'facerec', k: [1, 2] },
      ],
      ...extra,
    }),
  );
  return file;
}

test('one job: a metrics line with every value, and no tensors left behind', async () => {
  const c = capture();
  const tensors = tf.memory().numTensors;
  assert.equal(await runEvaluator([job(), '--backend', 'wasm'], c.io), 0, c.err.join('\n'));
  assert.equal(tf.memory().numTensors, tensors, 'the job freed its generator and tensors');
  const line = JSON.parse(c.out[0]) as {
    type: string;
    values: {
      name: string;
      value: number;
      extractor: string;
      n1: number;
      extra: { protocol?: number };
    }[];
  };
  assert.equal(line.type, 'metrics');
  assert.deepEqual(
    line.values.map((v) => v.name),
    ['fid_face', 'rank_face', 'rank_face@2'],
  );
  assert.ok(line.values[0].value > 0 && Number.isFinite(line.values[0].value));
  assert.equal(line.values[0].extractor, 'facerec');
  assert.equal(line.values[0].n1, line.values[1].n1);
  // Whoever records them replaces values of an older evaluation protocol, and can tell them apart.
  assert.deepEqual(
    line.values.map((v) => v.extra.protocol),
    [EVALUATION_PROTOCOL, EVALUATION_PROTOCOL, EVALUATION_PROTOCOL],
  );
});

test('bad jobs get an error line naming the field', async () => {
  const c = capture();
  const bad = job({ metrics: [{ name: 'x', kind: 'fid', extractor: 'clip' }] });
  assert.equal(await runEvaluator([bad, '--backend', 'wasm'], c.io), 1);
  const line = JSON.parse(c.out[0]) as { type: string; code: string; message: string };
  assert.equal(line.type, 'error');
  assert.equal(line.code, 'INVALID_CONFIG');
  assert.match(line.message, /metrics\[0\]\.extractor: unknown feature extractor 'clip'/);

  const c2 = capture();
  assert.equal(
    await runEvaluator([job({ checkpoint: join(tmp, 'nope') }), '--backend', 'wasm'], c2.io),
    1,
  );
  assert.match(JSON.parse(c2.out[0]).message, /nope/);

  const c3 = capture();
  assert.equal(await runEvaluator([], c3.io), 2);
  assert.match(c3.err[0], /^usage: fidlab-evaluator/);
});
