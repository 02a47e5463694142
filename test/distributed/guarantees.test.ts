// The distributed guarantees, each on real servers: a nats-server (JetStream, file storage) and a
// PostgreSQL database of the test's own, and `fidlab worker` processes running simulated trials
// (sleep-based epochs that resume from the store, record under their claim and heartbeat like the
// real ones) so that faults can be placed inside an epoch. Leases are 3 s here.
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { readDeadLetters } from '@fidlab/bus';
import {
  busEnv,
  fakeSweepFile,
  servicesSkipReason,
  suiteResources,
  until,
  World,
  WorkerProcess,
} from './harness.js';

const skip = await servicesSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const root = join(import.meta.dirname, '../..');

/** A sweep file whose trials the fake workers run (3 epochs each; a tiny data set is made). */
const sweepOf = (w: World, name: string, trials: number) =>
  fakeSweepFile(w, name, { seeds: Array.from({ length: trials }, (_, i) => i + 1) });

/** `fidlab ...` from the sources, with the suite's queue settings. */
function fidlab(args: string[]): WorkerProcess {
  return new WorkerProcess(args, busEnv(), 'tools/dev-fidlab.ts');
}

/** Each (run, epoch) has one epoch row and one row per metric, and every expected one is there. */
function assertExactlyOnce(
  rows: Awaited<ReturnType<World['rows']>>,
  keys: string[],
  epochs: number,
  metrics: string[],
) {
  for (const k of keys)
    for (let e = 1; e <= epochs; e++) {
      assert.equal(rows.epochs.get(`${k}:${e}`), 1, `epoch row ${k}:${e}`);
      for (const m of metrics)
        assert.equal(rows.metrics.get(`${k}:${e}:${m}`), 1, `${k}:${e}:${m}`);
    }
  assert.equal(rows.epochs.size, keys.length * epochs);
}

/**
 * Per (run, epoch), how often an epoch was trained and its checkpoint recorded (the simulated
 * trial says so after each record): a second time means an epoch trained again after its
 * checkpoint was recorded.
 */
async function recordsPerEpoch(w: World, sweep: string) {
  const n = new Map<string, number>();
  for (const m of await w.events(sweep)) {
    const e =
      m.event.type === 'log' ? /^epoch (\d+) trained and recorded$/.exec(m.event.line) : null;
    if (e && m.event.type === 'log') {
      const k = `${m.event.runId}:${e[1]}`;
      n.set(k, (n.get(k) ?? 0) + 1);
    }
  }
  return n;
}

describe('distributed sweeps on real servers', { skip: skip ?? false, concurrency: false }, () => {
  const { world, track } = suiteResources(after);

  test('lease: a worker SIGKILLed mid-epoch; the next resumes from the last recorded checkpoint', async () => {
    const w = await world();
    const jobs = await w.submitFake('lease', [{ epochs: 4, ms: 1500 }]);
    const a = track(w.worker(['--role', 'any', '--id', 'wa']));
    await until(
      'epoch 2 recorded by worker A',
      async () => (await w.store.runEpochs(jobs[0].runId)).length >= 2,
    );
    // Kill it inside epoch 3 (the slice loop heartbeats every 100 ms; no ack, no nak).
    await new Promise((r) => setTimeout(r, 400));
    a.signal('SIGKILL');
    await a.exited;
    const recordedBefore = (await w.store.runEpochs(jobs[0].runId)).map((e) => e.epoch);
    const b = track(w.worker(['--role', 'any', '--id', 'wb']));
    await until(
      'the run done',
      async () => (await w.store.getRun(jobs[0].runId))!.status === 'done',
    );
    await until('every epoch evaluated', async () => (await w.rows('lease')).metrics.size === 4);
    assert.ok(
      b.has(new RegExp(`resuming after epoch ${Math.max(...recordedBefore)}\\b`)),
      `worker B resumed after epoch ${Math.max(...recordedBefore)}:\n${b.lines.join('\n')}`,
    );
    assert.ok(b.has(/trial lease\/t0: started \(delivery 2/), 'the job was redelivered to B');
    assertExactlyOnce(await w.rows('lease'), ['t0'], 4, ['fake_fid']);
    const records = await recordsPerEpoch(w, 'lease');
    assert.equal(records.size, 4, 'every epoch recorded');
    for (const [k, n] of records)
      assert.equal(n, 1, `epoch ${k} trained once after its checkpoint was recorded`);
    assert.equal(await b.stop(), 0);
  });

  test('stale worker: SIGSTOPped past its lease, then SIGCONT: its writes are refused', async () => {
    const w = await world();
    const jobs = await w.submitFake('stale', [{ epochs: 4, ms: 1200 }]);
    const a = track(w.worker(['--role', 'trainer', '--id', 'wa']));
    await until(
      'epoch 1 recorded by A',
      async () => (await w.store.runEpochs(jobs[0].runId)).length >= 1,
    );
    a.signal('SIGSTOP');
    const b = track(w.worker(['--role', 'trainer', '--id', 'wb']));
    await until(
      'B claimed the run',
      async () => (await w.store.getRun(jobs[0].runId))!.claimedBy === 'wb',
    );
    a.signal('SIGCONT');
    await a.waitFor(/trial stale\/t0: lost the lease \(.*\); dropping the job/);
    await until(
      'the run done',
      async () => (await w.store.getRun(jobs[0].runId))!.status === 'done',
    );
    const rows = await w.rows('stale');
    assertExactlyOnce(rows, ['t0'], 4, []);
    const epochs = await w.store.runEpochs(jobs[0].runId);
    assert.deepEqual(
      epochs.map((e) => e.epoch),
      [1, 2, 3, 4],
    );
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  });

  test('poison job: retried with backoff, dead-lettered, run failed with the reason; sweep retry requeues it', async () => {
    const w = await world();
    const flag = join(w.dir, 'broken');
    writeFileSync(flag, '');
    const jobs = await w.submitFake('poison', [
      { epochs: 2, ms: 100, fail_while: flag },
      { epochs: 2, ms: 100 },
    ]);
    const a = track(w.worker(['--role', 'any']));
    await until(
      'the poison run failed',
      async () => (await w.store.getRun(jobs[0].runId))!.status === 'failed',
    );
    await until(
      'the other run done',
      async () => (await w.store.getRun(jobs[1].runId))!.status === 'done',
    );
    const failed = (await w.store.getRun(jobs[0].runId))!;
    assert.match(failed.error!, /poison trial t0: .*broken exists \(after 3 deliveries\)/);
    assert.ok(a.has(/failed on delivery 1\/3: .*retry in 300 ms/));
    assert.ok(a.has(/failed on delivery 3\/3: .*sent to the dead letters/));
    const dead = await readDeadLetters(w.nc, w.topology, { sweep: 'poison' });
    assert.equal(dead.length, 1);
    assert.equal(dead[0].runKey, 't0');
    // Fixed, then retried with the CLI (the sweep command module alone, from the sources).
    rmSync(flag);
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@fidlab/source',
        'tools/dev-fidlab.ts',
        'sweep',
        'retry',
        'poison',
        '--nats',
        w.nats.url,
        '--db',
        w.db.url,
      ],
      { cwd: root, encoding: 'utf8', env: { ...process.env, ...busEnv() } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^t0: requeued \(attempt \d+; was failed: poison trial/m);
    await until(
      'the retried run done',
      async () => (await w.store.getRun(jobs[0].runId))!.status === 'done',
    );
    // A trial is done when its training is; its last checkpoint's evaluation is a job of its own
    // and may commit a moment later.
    await until('every epoch of both runs evaluated', async () => {
      const rows = await w.rows('poison');
      return ['t0', 't1'].every((k) => [1, 2].every((e) => rows.metrics.has(`${k}:${e}:fake_fid`)));
    });
    assertExactlyOnce(await w.rows('poison'), ['t0', 't1'], 2, ['fake_fid']);
    assert.equal(await a.stop(), 0);
  });

  test('broker restart mid-sweep: workers and the submitter reconnect, the sweep completes', async () => {
    const w = await world();
    const file = sweepOf(w, 'broker', 6);
    const workers = [track(w.worker(['--role', 'any'])), track(w.worker(['--role', 'any']))];
    const run = fidlab(['run', file, '--nats', w.nats.url, '--db', w.db.url]);
    await until(
      'some epochs recorded',
      async () => (await w.rows('broker')).epochs.size >= 3,
      120_000,
    );
    await w.nats.restart();
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      run.exited,
      new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), 150_000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(
      code,
      0,
      `fidlab run --nats: ${code}\n${run.lines.slice(-20).join('\n')}\n--\n${workers.map((p) => p.lines.slice(-8).join('\n')).join('\n--\n')}`,
    );
    const rows = await w.rows('broker');
    assertExactlyOnce(
      rows,
      rows.runs.map((r) => r.key),
      3,
      ['fake_fid'],
    );
    assert.ok(run.has(/^best overall: run \S+ epoch \d+ fake_fid=/), run.lines.join('\n'));
    for (const p of workers) assert.equal(await p.stop(), 0);
  });

  test('two submitters: the same sweep submitted twice at once trains each trial once', async () => {
    const w = await world();
    const file = sweepOf(w, 'twice', 4);
    const workers = [track(w.worker(['--role', 'any'])), track(w.worker(['--role', 'any']))];
    const runs = [
      fidlab(['run', file, '--nats', w.nats.url, '--db', w.db.url]),
      fidlab(['run', file, '--nats', w.nats.url, '--db', w.db.url]),
    ];
    for (const r of runs) assert.equal(await r.exited, 0, r.lines.join('\n'));
    const submitted = runs.flatMap((r) =>
      r.lines.filter((l) => l.startsWith('submitted sweep twice')),
    );
    assert.equal(submitted.length, 2);
    const queued = submitted.map((l) => Number(/: (\d+) queued/.exec(l)![1]));
    assert.equal(queued[0] + queued[1], 4, submitted.join('\n'));
    const started = workers.flatMap((p) =>
      p.lines.filter((l) => /: trial twice\/\S+: started/.test(l)),
    );
    assert.equal(started.length, 4, started.join('\n'));
    const rows = await w.rows('twice');
    assertExactlyOnce(
      rows,
      rows.runs.map((r) => r.key),
      3,
      ['fake_fid'],
    );
    const records = await recordsPerEpoch(w, 'twice');
    assert.equal(records.size, 12);
    for (const [k, n] of records) assert.equal(n, 1, k);
  });

  test('SIGTERM hands the running job back and exits 0; another worker finishes it', async () => {
    const w = await world();
    const jobs = await w.submitFake('term', [{ epochs: 3, ms: 1500 }]);
    const a = track(w.worker(['--role', 'trainer']));
    await a.waitFor(/trial term\/t0: started/);
    a.signal('SIGTERM');
    assert.equal(await a.exited, 0);
    assert.ok(a.has(/stopped, handed back to the queue/));
    track(w.worker(['--role', 'trainer']));
    await until(
      'the run done',
      async () => (await w.store.getRun(jobs[0].runId))!.status === 'done',
    );
    assertExactlyOnce(await w.rows('term'), ['t0'], 3, []);
  });
});
