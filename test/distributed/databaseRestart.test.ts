// Database restart mid-sweep, on a PostgreSQL server of the test's own (initdb + pg_ctl on a free
// port, as the postgres user when run as root) so that it can be stopped and started again:
// workers retry their writes with backoff, keep their leases meanwhile, ack a job only after its
// results are committed, and the sweep completes with every epoch and value recorded once.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { skipOrFail } from '@fidlab/testing';
import { natsSkipReason } from '../../libs/bus/test/natsServer.js';
import { OwnPostgres, postgresBinDir, until, World, type WorkerProcess } from './harness.js';

function skipReason(): string | null {
  const nats = natsSkipReason();
  if (nats) return nats;
  if (postgresBinDir()) return null;
  return skipOrFail('PostgreSQL server binaries (initdb, pg_ctl) not installed');
}
const skip = skipReason();
if (skip) console.log(`# skipped: ${skip}`);

describe('database restart on real servers', { skip: skip ?? false }, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  test('PostgreSQL restarted mid-sweep: writes retried, acks after commit, nothing lost or doubled', async () => {
    const pg = await OwnPostgres.start();
    cleanup.push(() => pg.stop());
    const w = await World.create({ dbUrl: pg.url });
    cleanup.push(() => w.close());
    const keys = ['t0', 't1', 't2', 't3'];
    const jobs = await w.submitFake(
      'dbrestart',
      keys.map(() => ({ epochs: 3, ms: 700 })),
    );
    const workers: WorkerProcess[] = [w.worker(['--role', 'any']), w.worker(['--role', 'any'])];
    for (const p of workers)
      cleanup.push(async () => {
        p.signal('SIGKILL');
        await p.exited;
      });
    await until('some epochs recorded', async () => (await w.rows('dbrestart')).epochs.size >= 2);
    await pg.down();
    // Down for longer than a lease: the workers' in-progress acks must keep their jobs.
    await new Promise((r) => setTimeout(r, 4000));
    await pg.up();
    await until(
      () => `every run done\n${workers.map((p) => p.lines.slice(-10).join('\n')).join('\n--\n')}`,
      async () => {
        try {
          for (const j of jobs)
            if ((await w.store.getRun(j.runId))!.status !== 'done') return false;
          return (await w.rows('dbrestart')).metrics.size === keys.length * 3;
        } catch {
          return false; // this test's own store reconnecting
        }
      },
      120_000,
    );
    assert.ok(
      workers.some((p) => p.has(/store unavailable \(.*\); retry \d+ in \d+ ms/)),
      'a worker retried a write while the database was down',
    );
    const rows = await w.rows('dbrestart');
    for (const k of keys)
      for (let e = 1; e <= 3; e++) {
        assert.equal(rows.epochs.get(`${k}:${e}`), 1);
        assert.equal(rows.metrics.get(`${k}:${e}:fake_fid`), 1);
      }
    // No job failed for the outage: every trial ran on its first delivery (or was handed over
    // by a lease, never by a failure).
    for (const p of workers) assert.ok(!p.has(/failed on delivery/), p.lines.join('\n'));
    for (const p of workers) assert.equal(await p.stop(), 0);
  });
});
