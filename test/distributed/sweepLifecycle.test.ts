// A sweep whose metrics use another sweep's best checkpoint (`extractor: { best: ... }`) waits on
// the queue until that sweep has finished: its last evaluation in, so that its best epoch is
// final. A follower (`fidlab run --nats`) waits and queues it itself; a detached one is queued by
// the coordinator, which also closes sweeps nobody follows. Real nats-server, real PostgreSQL,
// `fidlab worker --fake` processes, the coordinator in this process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import {
  busEnv,
  fakeSweepFile,
  servicesSkipReason,
  suiteResources,
  until,
  World,
  WorkerProcess,
} from './harness.js';
import { startCoordinator } from '../../apps/coordinator/src/main.js';

const skip = await servicesSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const sweepFile = (w: World, name: string, extractor: string, seeds = [1, 2]) =>
  fakeSweepFile(w, name, { seeds, extractor });

function fidlab(args: string[]): WorkerProcess {
  return new WorkerProcess(args, busEnv(), 'tools/dev-fidlab.ts');
}

describe('sweeps that wait for the sweeps they refer to', { skip: skip ?? false }, () => {
  const { cleanup, world, track } = suiteResources(after);

  test('queued only once the referenced sweep has finished, by the follower and by the coordinator', async () => {
    const w = await world();
    Object.assign(process.env, busEnv());
    const lines: string[] = [];
    const coordinator = await startCoordinator(
      ['--nats', w.nats.url, '--db', w.db.url, '--port', '0'],
      { out: () => {}, err: (l) => lines.push(l) },
    );
    cleanup.push(() => coordinator.close());
    const nats = ['--nats', w.nats.url, '--db', w.db.url, '--runs-dir', join(w.dir, 'runs')];
    const ref = '{ best: { sweep: ref-a, metric: fake_fid }, tap: en7 }';

    // A: detached, nobody follows it; the coordinator must close it.
    const a = fidlab(['run', sweepFile(w, 'ref-a', 'facerec'), ...nats, '--detach']);
    assert.equal(await a.exited, 0, a.lines.join('\n'));
    // B follows and waits; C is detached and waits for the coordinator.
    const b = fidlab(['run', sweepFile(w, 'ref-b', ref), ...nats]);
    track(b);
    await b.waitFor(/^sweep ref-b waits for sweep\(s\) ref-a to finish/);
    const c = fidlab(['run', sweepFile(w, 'ref-c', ref), ...nats, '--detach']);
    assert.equal(await c.exited, 0, c.lines.join('\n'));
    assert.ok(c.has(/^sweep ref-c waits for sweep\(s\) ref-a to finish/), c.lines.join('\n'));
    assert.equal((await w.store.getSweep('ref-c'))!.status, 'pending');

    const workers = [0, 1].map((i) => w.worker(['--id', `w${i}`]));
    workers.forEach((p) => track(p));

    const status = async (s: string) => (await w.store.getSweep(s))?.status;
    await until(
      () => `the coordinator closing ref-a:\n${lines.join('\n')}`,
      () => lines.some((l) => /sweep ref-a done: every run finished/.test(l)),
      90_000,
    );
    assert.equal(await status('ref-a'), 'done');
    assert.equal(await b.exited, 0, b.lines.join('\n'));
    assert.ok(b.has(/^best overall: run \S+ epoch \d+ fake_fid=/), b.lines.join('\n'));
    await until('ref-c done', async () => (await status('ref-c')) === 'done', 90_000);
    assert.ok(
      lines.some((l) => /sweep ref-c: referenced sweeps finished, 2 trial\(s\) queued/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /sweep ref-c done: every run finished/.test(l)),
      lines.join('\n'),
    );

    // Every value of A (the last checkpoints' too) was committed before any trial of B or C began.
    const db = new pg.Client({ connectionString: w.db.url });
    await db.connect();
    cleanup.push(() => db.end());
    const q = async (sql: string, sweep: string) =>
      (await db.query(sql, [sweep])).rows[0] as { t: Date; n: string };
    const lastOfA = await q(
      `select max(m.created_at) as t, count(*) as n from metric_values m
         join runs r on r.id = m.run_id join sweeps s on s.id = r.sweep_id where s.name = $1`,
      'ref-a',
    );
    assert.equal(Number(lastOfA.n), 6, 'two runs of three evaluated epochs');
    for (const s of ['ref-b', 'ref-c']) {
      const first = await q(
        `select min(r.started_at) as t, count(*) as n from runs r
           join sweeps s on s.id = r.sweep_id where s.name = $1`,
        s,
      );
      assert.ok(
        first.t >= lastOfA.t,
        `${s} started ${first.t.toISOString()} before A's last value ${lastOfA.t.toISOString()}`,
      );
      const rows = await w.rows(s);
      assert.equal(rows.metrics.size, 6, `${s}: every epoch evaluated`);
    }
  });

  test('a done run whose values are of an older protocol is evaluated again, not trained', async () => {
    const w = await world();
    const worker = w.worker(['--id', 'w0']);
    track(worker);
    const nats = ['--nats', w.nats.url, '--db', w.db.url, '--runs-dir', join(w.dir, 'runs')];
    const file = sweepFile(w, 'reeval', 'facerec', [1]);
    const first = fidlab(['run', file, ...nats]);
    track(first);
    await until(
      () =>
        `the first run to end:\n${first.lines.join('\n')}\n--- worker:\n${worker.lines.join('\n')}`,
      () => first.proc.exitCode !== null,
      120_000,
    );
    assert.equal(await first.exited, 0, first.lines.join('\n'));
    const [run] = await w.store.listRuns({ sweep: 'reeval' });
    const before = await w.store.runEpochs(run.id);
    assert.deepEqual(
      before.map((e) => e.protocols.fake_fid),
      [2, 2, 2],
    );
    // Epoch 2's value as an older protocol would have left it.
    await w.store.recordMetrics(run.id, 2, [
      { name: 'fake_fid', value: 999, extra: { protocol: 1 } },
    ]);
    const again = fidlab(['run', file, ...nats]);
    assert.equal(await again.exited, 0, again.lines.join('\n'));
    assert.ok(
      again.has(
        /^submitted sweep reeval: 1 trial\(s\): 0 queued, 0 already queued, 1 already done; 1 epoch\(s\) with values of an older evaluation protocol queued for evaluation again$/,
      ),
      again.lines.join('\n'),
    );
    const after = await w.store.runEpochs(run.id);
    assert.deepEqual(
      after.map((e) => [e.protocols.fake_fid, e.metrics.fake_fid]),
      before.map((e) => [2, e.metrics.fake_fid]),
      'epoch 2 measured again with the current protocol; the others untouched',
    );
    // Not trained again: one `started` line for the trial, from the first submission.
    assert.equal(
      worker.lines.filter((l) => /trial reeval\/\S+: started/.test(l)).length,
      1,
      worker.lines.join('\n'),
    );
  });
});
