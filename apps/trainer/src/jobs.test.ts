// fidlab-trainer given a sweep's trial job: the engine's handler runs it against the store (PGlite
// here) under a claim of the process, printing one JSON line per event.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildTrialJob, expandTrials, parseSweepText, prepareSweep } from '@fidlab/experiments';
import { openStore } from '@fidlab/store';
import { tempDir, TINY_SWEEP_METRICS, tinySweepText } from '@fidlab/testing';
import { runTrainer } from './main.js';

test('a trial job: recorded in the store under a claim, one JSON line per event', async (t) => {
  const dir = tempDir(t, 'fidlab-trainer-job-');
  const url = `pglite:${join(dir, 'db')}`;
  const spec = parseSweepText(
    tinySweepText('tj', join(dir, 'data'), { metrics: [TINY_SWEEP_METRICS.fid_face] }),
  );
  const [trial] = expandTrials(spec);
  let store = await openStore({ url });
  const sweep = await store.upsertSweep({ name: 'tj', spec, status: 'running' });
  const run = await store.upsertRun({ sweepId: sweep.id, key: trial.key, parameters: {} });
  const job = buildTrialJob(spec, trial, {
    runId: run.id,
    runDir: join(dir, 'run'),
    metrics: await prepareSweep(spec, store, () => {}), // synthesises the data set too
  });
  await store.close();
  const file = join(dir, 'job.json');
  writeFileSync(file, JSON.stringify(job));
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTrainer([file, '--backend', 'wasm', '--db', url], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  assert.equal(code, 0, err.join('\n'));
  const events = out.map((l) => JSON.parse(l) as { type: string; epoch?: number; status?: string });
  assert.deepEqual(
    events.map((e) => [e.type, e.epoch ?? e.status]),
    [
      ['checkpoint', 1],
      ['checkpoint', 2],
      ['trial-finished', 'done'],
    ],
  );
  store = await openStore({ url });
  try {
    const after = await store.getRun(run.id);
    assert.equal(after?.status, 'done');
    assert.equal(after?.claimedBy, null, 'claim released');
    assert.deepEqual(
      (await store.runEpochs(run.id)).map((e) => e.epoch),
      [1, 2],
    );
  } finally {
    await store.close();
  }
  // An evaluation job is refused with a pointer to the evaluator.
  const evalFile = join(dir, 'eval.json');
  writeFileSync(
    evalFile,
    JSON.stringify({
      kind: 'evaluation',
      sweep: 'tj',
      runId: run.id,
      runKey: trial.key,
      epoch: 1,
      checkpoint: { uri: join(dir, 'run') },
      evaluation: {},
    }),
  );
  const err2: string[] = [];
  assert.equal(
    await runTrainer([evalFile, '--db', url], { out: () => {}, err: (l) => err2.push(l) }),
    1,
  );
  assert.match(err2.join('\n'), /goes to fidlab-evaluator/);
});
