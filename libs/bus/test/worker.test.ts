// The worker loop on a real nats-server (its own, per suite) with the in-memory fenced recorder:
// every job once, poison jobs to the dead letters after max_deliver with backoff, messages of an
// unknown schema version refused, the registry listing workers and forgetting vanished ones.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { TrialJob } from '@fidlab/experiments';
import {
  busSettings,
  BusWorker,
  connectBus,
  ensureTopology,
  fakeHandlers,
  listWorkers,
  NatsDispatcher,
  readDeadLetters,
  type Topology,
  type WorkerOptions,
} from '../src/index.js';
import { MemoryRecorder } from './memoryRecorder.js';
import { natsSkipReason, TestNatsServer } from './natsServer.js';

const skip = natsSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('bus worker on a real nats-server', { skip: skip ?? false }, () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  let topo: Topology;
  before(async () => {
    server = await TestNatsServer.start();
    nc = await connectBus({ servers: [server.url] });
    topo = await ensureTopology(
      nc,
      busSettings({
        prefix: 'wt',
        ackWaitMs: 2000,
        maxDeliver: 3,
        backoffMs: [100, 200],
        workerTtlMs: 1500,
      }),
    );
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  async function sweepOf(rec: MemoryRecorder, name: string, params: Record<string, unknown>[]) {
    const s = await rec.upsertSweep({ name, spec: {} });
    const jobs: TrialJob[] = [];
    for (const [i, p] of params.entries()) {
      const r = await rec.upsertRun({ sweepId: s.id, key: `k${i}`, parameters: p });
      jobs.push({
        kind: 'trial',
        sweep: name,
        runId: r.id,
        runKey: r.key,
        spec: {} as never,
        parameters: p as never,
        runDir: `/tmp/${name}/k${i}`,
      });
    }
    return jobs;
  }

  /** A worker on the suite's server (`nc` unless given) and topology; pulls expire in 300 ms. */
  const worker = (
    rec: MemoryRecorder,
    o: Omit<WorkerOptions, 'nc' | 'topology' | 'recorder'> & { nc?: NatsConnection },
  ) => new BusWorker({ nc, topology: topo, recorder: rec, pullExpiresMs: 300, ...o });

  test('two workers run 20 trials and their evaluations, each epoch recorded once', async () => {
    const rec = new MemoryRecorder();
    const jobs = await sweepOf(
      rec,
      'many',
      Array.from({ length: 20 }, (_, i) => ({ epochs: 2, ms: 20 + (i % 5) * 10 })),
    );
    const d = new NatsDispatcher(nc, topo);
    // Submitted twice (two submitters): the message ids make the second a no-op.
    const first = await Promise.all(jobs.map((j) => d.publish(j)));
    const second = await Promise.all(jobs.map((j) => d.publish(j)));
    assert.equal(first.filter((r) => r.queued).length, 20);
    assert.equal(second.filter((r) => r.queued).length, 0);
    const started: number[] = [];
    const workers = [0, 1].map((i) =>
      worker(rec, {
        handlers: fakeHandlers({ evaluate: true, evalMs: 5 }),
        id: `w${i}`,
        pullExpiresMs: 500,
        onJobStart: (t) => t.job.kind === 'trial' && started.push(t.job.runId),
      }),
    );
    workers.forEach((w) => void w.start());
    try {
      await until(
        'every run done and evaluated',
        () => [...rec.runs.values()].every((r) => r.status === 'done') && rec.metrics.size === 40,
      );
      // Listed while both still beat: each once (a key rewritten during the listing comes twice).
      const listed = await listWorkers(topo);
      assert.deepEqual(listed.map((w) => w.id).sort(), ['w0', 'w1']);
    } finally {
      // Stopped whatever happened: left running, they would take the next tests' jobs.
      await Promise.all(workers.map((w) => w.stop()));
    }
    assert.equal(started.length, 20, 'each trial started once');
    assert.equal(rec.epochs.size, 40);
    assert.ok([...rec.epochs.values()].every((e) => e.writes === 1));
    assert.deepEqual(await listWorkers(topo), [], 'stopped workers leave the registry');
  });

  test('a worker of role any evaluates its own checkpoints at once, queueing no evaluation job; a queued job whose values are recorded is acked without work', async () => {
    const rec = new MemoryRecorder();
    const jobs = await sweepOf(
      rec,
      'inline',
      Array.from({ length: 4 }, () => ({ epochs: 3, ms: 20 })),
    );
    const d = new NatsDispatcher(nc, topo);
    await Promise.all(jobs.map((j) => d.publish(j)));
    const fake = fakeHandlers({ evaluate: true, evalMs: 5 });
    let evaluations = 0;
    // Values of an epoch committed before the next epoch is trained: the inline evaluation.
    const evaluatedBeforeNext: boolean[] = [];
    const handlers = {
      ...fake,
      trial: (job: TrialJob, ctx: Parameters<NonNullable<typeof fake.trial>>[1]) =>
        fake.trial!(job, {
          ...ctx,
          emit: async (e) => {
            await ctx.emit(e);
            if (e.type === 'checkpoint')
              evaluatedBeforeNext.push(rec.metrics.has(`${job.runId}:${e.epoch}:fake_fid`));
          },
        }),
      evaluation: (
        job: Parameters<NonNullable<typeof fake.evaluation>>[0],
        ctx: Parameters<NonNullable<typeof fake.evaluation>>[1],
      ) => {
        evaluations++;
        return fake.evaluation!(job, ctx);
      },
      evaluated: async (job: { runId: number; epoch: number }) =>
        rec.metrics.has(`${job.runId}:${job.epoch}:fake_fid`),
    };
    const evaluationJobs: string[] = [];
    const workers = [0, 1].map((i) =>
      worker(rec, {
        handlers,
        id: `inline-${i}`,
        pullExpiresMs: 500,
        onJobEnd: (t) =>
          t.job.kind === 'evaluation' &&
          evaluationJobs.push(`${t.job.runId}:${t.job.epoch}:${t.outcome}`),
      }),
    );
    workers.forEach((w) => void w.start());
    try {
      await until(
        'every run done and evaluated',
        () => [...rec.runs.values()].every((r) => r.status === 'done') && rec.metrics.size === 12,
      );
      // A queued job of an epoch already evaluated (what a resumed trial may queue): no work.
      const [j] = jobs;
      await d.submit({
        kind: 'evaluation',
        sweep: j.sweep,
        runId: j.runId,
        runKey: j.runKey,
        epoch: 1,
        checkpoint: { uri: `${j.runDir}/epoch-1` },
        evaluation: { ms: 5 },
      });
      await until('the queued job taken', () => evaluationJobs.length === 1);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    assert.equal(evaluations, 12, 'each checkpoint evaluated once, by its trainer');
    assert.equal(evaluatedBeforeNext.length, 12);
    assert.ok(evaluatedBeforeNext.every(Boolean), 'values recorded before training went on');
    assert.deepEqual(evaluationJobs, [`${jobs[0].runId}:1:skipped`]);
  });

  test('a poison job is retried with backoff, then dead-lettered and its run failed', async () => {
    const rec = new MemoryRecorder();
    const [job] = await sweepOf(rec, 'poison', [{ fail: 'always' }]);
    await new NatsDispatcher(nc, topo).submit(job);
    const deliveries: number[] = [];
    const w = worker(rec, {
      handlers: fakeHandlers(),
      onJobStart: (t) => deliveries.push(t.delivery),
    });
    void w.start();
    await until('run failed', () => rec.runs.get(job.runId)!.status === 'failed');
    await w.stop();
    assert.deepEqual(deliveries, [1, 2, 3]);
    assert.match(rec.runs.get(job.runId)!.error!, /poison trial k0: always \(after 3 deliveries\)/);
    const dead = await readDeadLetters(nc, topo, { sweep: 'poison' });
    assert.equal(dead.length, 1);
    assert.equal(dead[0].runId, job.runId);
    assert.match(dead[0].error, /poison trial/);
  });

  test('a worker dying between its done commit and trial-finished: the redelivery reports the run finished', async () => {
    // The follower of a sweep ends a trial on its trial-finished event; a worker that committed
    // 'done' and died before publishing it must not leave the follower waiting forever.
    const rec = new MemoryRecorder();
    const [job] = await sweepOf(rec, 'gap', [{ epochs: 1, ms: 10 }]);
    const d = new NatsDispatcher(nc, topo);
    const finished: string[] = [];
    const following = new AbortController();
    const follow = (async () => {
      for await (const e of d.events('gap', following.signal))
        if (e.type === 'trial-finished' && e.runId === job.runId) finished.push(e.status);
    })();
    await new Promise((r) => setTimeout(r, 200)); // the follower subscribes first
    const ncA = await connectBus({ servers: [server.url] });
    let entered = false;
    const lines: string[] = [];
    const a = worker(rec, {
      nc: ncA,
      id: 'dies',
      log: (l) => lines.push(l),
      handlers: {
        trial: async (j, ctx) => {
          entered = true;
          await ctx.recorder.setRunStatus(j.runId, 'done', { claim: ctx.claim });
          await ncA.close(); // killed here: no event, no ack, no nak
          await ctx.emit({
            type: 'trial-finished',
            sweep: j.sweep,
            runId: j.runId,
            status: 'done',
          });
          return 'completed';
        },
      },
    });
    const aDone = a.start();
    await d.submit(job);
    await until('the first worker took the job', () => entered);
    const b = worker(rec, {
      handlers: fakeHandlers(),
      id: 'next',
    });
    void b.start();
    // Lease 2 s: the job comes back to the second worker, which finds the run done.
    await until('trial-finished of the run', () => finished.length > 0, 15_000);
    assert.deepEqual(finished, ['done']);
    await b.stop();
    // The dead worker gives up at once (a closed connection never comes back), without throwing.
    await Promise.race([
      aDone,
      new Promise((_, rej) => setTimeout(() => rej(new Error('dead worker still looping')), 5000)),
    ]);
    assert.ok(
      lines.some((l) => /connection closed/.test(l)),
      lines.join('\n'),
    );
    following.abort();
    await follow;
  });

  test('a job message of an unknown schema version is refused and dead-lettered', async () => {
    const rec = new MemoryRecorder();
    const [job] = await sweepOf(rec, 'future', [{}]);
    const lines: string[] = [];
    await jetstream(nc).publish(
      topo.names.jobSubject('trial', 'future', job.runId),
      JSON.stringify({ v: 99, attempt: 0, submittedAt: Date.now(), job }),
    );
    const w = worker(rec, {
      handlers: fakeHandlers(),
      log: (l) => lines.push(l),
    });
    void w.start();
    await until('run failed', () => rec.runs.get(job.runId)!.status === 'failed');
    await w.stop();
    assert.ok(
      lines.some((l) =>
        /refusing job message .*unknown wire schema version 99 \(this build reads v1\); sent to the dead letters/.test(
          l,
        ),
      ),
      lines.join('\n'),
    );
    const dead = await readDeadLetters(nc, topo, { sweep: 'future' });
    assert.equal(dead.length, 1);
    assert.equal(dead[0].kind, 'invalid');
  });

  test('a worker that stops beating vanishes from the registry within its TTL', async () => {
    const rec = new MemoryRecorder();
    const w = worker(rec, {
      handlers: fakeHandlers(),
      id: 'ghost',
      gpu: '3',
      role: 'trainer',
    });
    void w.start();
    await until('registered', async () => (await listWorkers(topo)).some((e) => e.id === 'ghost'));
    const [e] = await listWorkers(topo);
    assert.equal(e.gpu, '3');
    assert.equal(e.role, 'trainer');
    // A vanished process: its registry timer stops and its clean removal never happens.
    (w as unknown as { registryTimer: NodeJS.Timeout }).registryTimer.close();
    (w as unknown as { o: { topology: Topology } }).o.topology = {
      ...topo,
      workers: { put: async () => {}, delete: async () => {} } as never,
    };
    const t0 = Date.now();
    await until(
      'vanished',
      async () => !(await listWorkers(topo)).some((x) => x.id === 'ghost'),
      10_000,
    );
    assert.ok(Date.now() - t0 < 4000, `vanished after ${Date.now() - t0} ms`);
    await w.stop();
  });
});
