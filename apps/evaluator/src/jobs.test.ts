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
  prepareSweep,
  runTrialJob,
  type SweepEvent,
} from '@fidlab/experiments';
import { selectBackend } from '@fidlab/models';
import { openStore } from '@fidlab/store';
import { tempDir, TINY_SWEEP_METRICS, tinySweepText } from '@fidlab/testing';
import { runEvaluator } from './main.js';

test('a checkpoint evaluation job: values recorded in the store, the usual metrics line', async (t) => {
  const dir = tempDir(t, 'fidlab-evaluator-job-');
  const url = `pglite:${join(dir, 'db')}`;
  const spec = parseSweepText(
    tinySweepText('ej', join(dir, 'data'), { epochs: 1, metrics: [TINY_SWEEP_METRICS.fid_face] }),
  );
  await selectBackend({ backend: 'wasm' });
  const [trial] = expandTrials(spec);
  let store = await openStore({ url });
  const sweep = await store.upsertSweep({ name: 'ej', spec, status: 'running' });
  const run = await store.upsertRun({ sweepId: sweep.id, key: trial.key, parameters: {} });
  const job = buildTrialJob(spec, trial, {
    runId: run.id,
    runDir: join(dir, 'run'),
    metrics: await prepareSweep(spec, store, () => {}), // synthesises the data set too
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
