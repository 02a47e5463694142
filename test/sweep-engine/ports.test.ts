// The sweep engine over its ports, on a real store (PGlite) and tiny synthetic data: the
// in-process dispatcher runs a sweep in today's order (each checkpoint evaluated before training
// goes on) with values equal to a standalone evaluation of each checkpoint; a trial job resumes
// from the checkpoint recorded in the store; writes under a stolen claim are refused.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { isFidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';
import { openStore, type Store, type StoreChange } from '@fidlab/store';
import { tempDir, tinySweepText } from '@fidlab/testing';
import {
  buildTrialJob,
  evaluateJob,
  evaluationJobFor,
  expandTrials,
  InProcessDispatcher,
  parseSweepText,
  resolveMetrics,
  runEvaluationJob,
  runSweep,
  runTrialJob,
  type Claim,
  type EvaluationJob,
  type JobContext,
  type SweepEvent,
  type SweepSpec,
  type TrialJob,
} from '@fidlab/experiments';

const dir = tempDir({ after }, 'fidlab-ports-');
let store: Store;

before(async () => {
  await selectBackend({ backend: 'wasm' });
  store = await openStore({ dir: join(dir, 'db') });
});
after(async () => {
  await store?.close();
});

const sweepText = (name: string, epochs = 2) => tinySweepText(name, join(dir, 'data'), { epochs });

const staleClaim = (e: unknown) => isFidlabError(e) && e.code === 'STALE_CLAIM';

/** The sweep's one trial as a job, its run created (and claimed for `worker` when given). */
async function trialJob(spec: SweepSpec, worker?: string): Promise<TrialJob> {
  const sweep = await store.upsertSweep({ name: spec.name, spec, status: 'running' });
  const [trial] = expandTrials(spec);
  const runDir = join(dir, 'runs', spec.name, trial.key);
  const run = await store.upsertRun({
    sweepId: sweep.id,
    key: trial.key,
    parameters: trial.parameters,
    runDir,
  });
  let claim: Claim | undefined;
  if (worker) {
    await store.registerWorker({ id: worker, hostname: 'test' });
    claim = (await store.claimRun(run.id, worker)) ?? undefined;
    assert.ok(claim);
  }
  const metrics = await resolveMetrics(spec, store);
  return buildTrialJob(spec, trial, { runId: run.id, runDir, metrics, claim });
}

/** A job context over the store; `onEvent` sees every event (and may evaluate checkpoints). */
function context(
  onEvent: (e: SweepEvent) => Promise<void> | void,
  opts: { signal?: AbortSignal; lines?: string[]; claim?: Claim } = {},
): JobContext {
  return {
    recorder: store,
    ...(opts.claim ? { claim: opts.claim } : {}),
    emit: async (e) => onEvent(e),
    heartbeat: () => {},
    log: (line) => opts.lines?.push(line),
    signal: opts.signal ?? new AbortController().signal,
  };
}

test('in-process dispatcher: a tiny sweep evaluates each checkpoint before training goes on, with the values of a standalone evaluation', async () => {
  const spec = parseSweepText(sweepText('ports-a'));
  const lines: string[] = [];
  const dispatcher = new InProcessDispatcher({ recorder: store, log: (l) => lines.push(l) });
  const events: SweepEvent[] = [];
  const follow = new AbortController();
  const seen = (async () => {
    for await (const e of dispatcher.events('ports-a', follow.signal)) events.push(e);
  })();
  const writes: string[] = [];
  const onChange = (c: StoreChange) => {
    if (c.kind === 'epoch' || c.kind === 'metrics') writes.push(c.kind);
  };
  store.events.on('change', onChange);
  const [outcome] = await runSweep(spec, {
    recorder: store,
    dispatcher,
    runsDir: join(dir, 'runs'),
    log: (l) => lines.push(l),
  });
  store.events.off('change', onChange);
  follow.abort();
  await seen;
  await dispatcher.close();
  assert.equal(outcome.status, 'done', lines.join('\n'));
  assert.deepEqual(
    events.map((e) => `${e.type}${'epoch' in e ? ` ${e.epoch}` : ''}`),
    ['checkpoint 1', 'metrics 1', 'checkpoint 2', 'metrics 2', 'trial-finished'],
  );
  // Epoch 2 is recorded after epoch 1's values (today's order: train, evaluate, train).
  assert.deepEqual(writes, ['epoch', 'metrics', 'epoch', 'metrics']);
  assert.deepEqual(
    lines.filter((l) => / epoch \d: fid_face=/.test(l)).map((l) => l.split(':')[0]),
    ['trial 1/1 [seed=1] epoch 1', 'trial 1/1 [seed=1] epoch 2'],
  );
  const epochs = await store.runEpochs(outcome.runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  for (const e of epochs) {
    const values = await evaluateJob({
      checkpoint: e.checkpoint!.uri,
      data: spec.data,
      split: 'test',
      direction: 'sketch2sketch',
      // the sweep names its extractors (no best references): a job's metrics as they are
      metrics: spec.evaluate!.metrics as EvaluationJob['metrics'],
    });
    assert.deepEqual(
      Object.fromEntries(values.map((v) => [v.name, v.value])),
      e.metrics,
      `epoch ${e.epoch}: recorded values equal a standalone evaluation, bit for bit`,
    );
  }
  assert.equal((await store.getSweep('ports-a'))?.status, 'done');
});

test('a trial job resumes from the checkpoint recorded in the store', async () => {
  const spec = parseSweepText(sweepText('ports-b', 3));
  const job = await trialJob(spec, 'resume-w');
  const stop = new AbortController();
  const first: SweepEvent[] = [];
  const evaluate = async (e: SweepEvent, ctx: () => JobContext) => {
    if (e.type !== 'checkpoint') return;
    await runEvaluationJob(evaluationJobFor(job, e)!, ctx());
  };
  const ctx1: JobContext = context(
    async (e) => {
      first.push(e);
      await evaluate(e, () => ctx1);
      if (e.type === 'checkpoint' && e.epoch === 1) stop.abort(); // Ctrl-C after epoch 1
    },
    { signal: stop.signal },
  );
  const r1 = await runTrialJob(job, ctx1);
  assert.equal(r1.status, 'cancelled');
  assert.equal((await store.getRun(job.runId))?.status, 'cancelled');
  const after1 = await store.runEpochs(job.runId);
  assert.deepEqual(
    after1.map((e) => [e.epoch, Object.keys(e.metrics).length > 0]),
    [[1, true]],
  );

  const second: SweepEvent[] = [];
  const lines: string[] = [];
  const ctx2: JobContext = context(
    async (e) => {
      second.push(e);
      await evaluate(e, () => ctx2);
    },
    { lines },
  );
  const r2 = await runTrialJob(job, ctx2);
  assert.equal(r2.status, 'done', lines.join('\n'));
  assert.deepEqual(
    second.filter((e) => e.type === 'checkpoint').map((e) => (e as { epoch: number }).epoch),
    [2, 3],
    'epoch 1 is neither trained nor evaluated again',
  );
  assert.ok(
    lines.some((l) => /resum\w* .*epoch 1|from epoch 1|epoch-0001/i.test(l)),
    lines.join('\n'),
  );
  const after2 = await store.runEpochs(job.runId);
  assert.deepEqual(
    after2.map((e) => e.epoch),
    [1, 2, 3],
  );
  assert.deepEqual(after2[0].checkpoint, after1[0].checkpoint, 'epoch 1 kept as recorded');
  assert.equal((await store.getRun(job.runId))?.status, 'done');
});

test('a trial whose claim was stolen cannot record another epoch or value (fencing)', async () => {
  const spec = parseSweepText(sweepText('ports-c', 3));
  const job = await trialJob(spec, 'fenced-w');
  await store.registerWorker({ id: 'thief', hostname: 'test' });
  let checkpoint: Extract<SweepEvent, { type: 'checkpoint' }> | undefined;
  const ctx = context(async (e) => {
    if (e.type !== 'checkpoint' || e.epoch !== 1) return;
    checkpoint = e;
    // Another worker takes the trial over while this one is still training it.
    assert.equal((await store.claimRun(job.runId, 'thief', { steal: true }))?.generation, 2);
  });
  await assert.rejects(runTrialJob(job, ctx), staleClaim);
  const epochs = await store.runEpochs(job.runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1],
    'epoch 2 was refused',
  );
  const run = await store.getRun(job.runId);
  assert.equal(run?.status, 'running', 'the status is the new holder’s to set');
  assert.equal(run?.claimedBy, 'thief');
  // The checkpoint's evaluation, under the old claim, is refused too.
  await assert.rejects(runEvaluationJob(evaluationJobFor(job, checkpoint!)!, ctx), staleClaim);
  assert.deepEqual((await store.runEpochs(job.runId))[0].metrics, {});
});

test('a runner waits for a trial another live worker holds, and takes over one whose worker died', async () => {
  const spec = parseSweepText(sweepText('ports-d', 1));
  const sweep = await store.upsertSweep({ name: 'ports-d', spec });
  const [trial] = expandTrials(spec);
  const run = await store.upsertRun({ sweepId: sweep.id, key: trial.key, parameters: {} });
  await store.registerWorker({ id: 'holder', hostname: 'test' });
  await store.registerWorker({ id: 'me', hostname: 'test' });
  const held = (await store.claimRun(run.id, 'holder'))!;
  const lines: string[] = [];
  const running = runSweep(spec, {
    recorder: store,
    workerId: 'me',
    pollMs: 50,
    runsDir: join(dir, 'runs'),
    log: (l) => lines.push(l),
  });
  // The runner says so once, then waits (however often it looks again).
  while (!lines.some((l) => /claimed by worker/.test(l))) await sleep(20);
  await sleep(300);
  assert.deepEqual((await store.runEpochs(run.id)).length, 0, 'not trained while held');
  await store.releaseClaim(held); // the holder gives the trial up unfinished
  const [outcome] = await running;
  assert.equal(outcome.status, 'done', lines.join('\n'));
  assert.deepEqual(
    lines.filter((l) => /claimed by worker/.test(l)),
    [
      'trial 1/1 [seed=1]: claimed by worker holder, which is alive: not training it here; waiting for it',
    ],
  );
  const after = await store.getRun(run.id);
  assert.equal(after?.claimedBy, null, 'released when done');
  assert.equal((await store.runEpochs(run.id)).length, 1);

  // A holder whose heartbeat is older than the live bound is dead: its trial is taken over.
  const spec2 = parseSweepText(sweepText('ports-e', 1));
  const sweep2 = await store.upsertSweep({ name: 'ports-e', spec: spec2 });
  const run2 = await store.upsertRun({ sweepId: sweep2.id, key: trial.key, parameters: {} });
  await store.registerWorker({ id: 'ghost', hostname: 'test' });
  assert.ok(await store.claimRun(run2.id, 'ghost'));
  await store.prisma.worker.update({
    where: { id: 'ghost' },
    data: { lastSeenAt: new Date(Date.now() - 120_000) },
  });
  const lines2: string[] = [];
  const [taken] = await runSweep(spec2, {
    recorder: store,
    workerId: 'me',
    runsDir: join(dir, 'runs'),
    log: (l) => lines2.push(l),
  });
  assert.equal(taken.status, 'done', lines2.join('\n'));
  assert.ok(!lines2.some((l) => /claimed by worker/.test(l)), lines2.join('\n'));
});
