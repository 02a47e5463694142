// fidlab-evaluator given a sweep's checkpoint evaluation job: the engine's handler evaluates the
// checkpoint and records the values in the store (PGlite here); the output line is the usual one.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  buildTrialJob,
  evaluationJobFor,
  expandTrials,
  parseSweepText,
  resolveMetrics,
  runTrialJob,
  type SweepEvent,
} from '@fidlab/experiments';
import { selectBackend } from '@fidlab/models';
import { openStore } from '@fidlab/store';
import { tempDir } from '@fidlab/testing';
import { synthDataset } from '@fidlab/datasets';
import { runEvaluator } from './main.js';

test('a checkpoint evaluation job: values recorded in the store, the usual metrics line', async (t) => {
  const dir = tempDir(t, 'fidlab-evaluator-job-');
  const url = `pglite:${join(dir, 'db')}`;
  const spec = parseSweepText(`name: ej
data:
  root: ${join(dir, 'data')}
  size: 32
parameters:
  seed: { values: [1] }
fixed: { model: unet, direction: sketch2sketch, gan_mode: none, epochs: 1, epochs_decay: 0, batch_size: 4, ngf: 4 }
evaluate:
  metrics:
    - { name: fid_face, kind: fid, extractor: facerec }
select: { metric: fid_face, goal: min }
`);
  await synthDataset({
    out: spec.data.root,
    identities: 4,
    perIdentity: 3,
    size: 32,
    seed: 3,
    splitBy: 'image',
  });
  await selectBackend({ backend: 'wasm' });
  const [trial] = expandTrials(spec);
  let store = await openStore({ url });
  const sweep = await store.upsertSweep({ name: 'ej', spec, status: 'running' });
  const run = await store.upsertRun({ sweepId: sweep.id, key: trial.key, parameters: {} });
  const job = buildTrialJob(spec, trial, {
    runId: run.id,
    runDir: join(dir, 'run'),
    metrics: await resolveMetrics(spec, store),
  });
  // Train it here, keeping the checkpoint event instead of evaluating it.
  const checkpoints: Extract<SweepEvent, { type: 'checkpoint' }>[] = [];
  const finished = await runTrialJob(job, {
    recorder: store,
    emit: async (e) => void (e.type === 'checkpoint' && checkpoints.push(e)),
    heartbeat: () => {},
    log: () => {},
    signal: new AbortController().signal,
  });
  assert.equal(finished.status, 'done');
  await store.close();
  assert.equal(checkpoints.length, 1);
  const file = join(dir, 'eval.json');
  writeFileSync(file, JSON.stringify(evaluationJobFor(job, checkpoints[0])));
  const out: string[] = [];
  const err: string[] = [];
  const code = await runEvaluator([file, '--backend', 'wasm', '--db', url], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  assert.equal(code, 0, err.join('\n'));
  const line = JSON.parse(out[0]) as {
    type: string;
    checkpoint: string;
    values: { name: string; value: number }[];
  };
  assert.equal(line.type, 'metrics');
  assert.equal(line.checkpoint, checkpoints[0].checkpoint.uri);
  store = await openStore({ url });
  try {
    const [epoch] = await store.runEpochs(run.id);
    assert.deepEqual(epoch.metrics, { fid_face: line.values[0].value });
  } finally {
    await store.close();
  }
});
