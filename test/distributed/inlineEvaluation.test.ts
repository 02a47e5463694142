// Workers of role `any` on a real sweep (real training and a real facerec metric, real servers):
// each evaluates its own trial's checkpoints itself, at once, so an epoch's values are committed
// before the next epoch is trained, as in one process, and no evaluation job is queued. Values
// equal those of the same sweep in one process.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openStore } from '@fidlab/store';
import {
  createTestDatabase,
  TINY_SWEEP_METRICS,
  tinySweepText,
  type TestDatabase,
} from '@fidlab/testing';
import { busEnv, servicesSkipReason, World, WorkerProcess } from './harness.js';

const skip = await servicesSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const EPOCHS = 2;

describe('workers of role any on a real sweep', { skip: skip ?? false }, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  test('each evaluates its own checkpoints at once, queueing no evaluation job; values equal one process', async () => {
    const w = await World.create();
    cleanup.push(() => w.close());
    const file = join(w.dir, 'inline.yaml');
    writeFileSync(
      file,
      tinySweepText('inline', join(w.dir, 'data'), {
        epochs: EPOCHS,
        seeds: [1, 2],
        metrics: [TINY_SWEEP_METRICS.fid_face],
      }),
    );
    const track = (p: WorkerProcess) => {
      cleanup.push(async () => {
        p.signal('SIGKILL');
        await p.exited;
      });
      return p;
    };
    const fidlab = (args: string[]) =>
      track(new WorkerProcess(args, busEnv(), 'tools/dev-fidlab.ts'));
    const workers = [0, 1].map(() =>
      track(
        new WorkerProcess(
          ['--nats', w.nats.url, '--db', w.db.url, '--role', 'any', '--backend', 'wasm'],
          busEnv(),
        ),
      ),
    );
    const refDb = await createTestDatabase({ prefix: 'fidlab_inline_ref' });
    if (typeof refDb === 'string') throw new Error(refDb);
    cleanup.push(() => (refDb as TestDatabase).drop());
    const runsDir = join(w.dir, 'runs');
    const inProcess = fidlab(['run', file, '--db', refDb.url, '--runs-dir', join(w.dir, 'ref')]);
    assert.equal(await inProcess.exited, 0, inProcess.lines.join('\n'));
    const run = fidlab([
      'run',
      file,
      '--nats',
      w.nats.url,
      '--db',
      w.db.url,
      '--runs-dir',
      runsDir,
    ]);
    assert.equal(await run.exited, 0, run.lines.join('\n'));
    const logs = () => workers.map((p) => p.lines.join('\n')).join('\n--\n');
    // No evaluation job was queued: the evaluation stream never held one.
    const evals = await w.topology.jsm.streams.info(w.topology.names.evalStream);
    assert.equal(evals.state.last_seq, 0, `evaluation jobs were queued\n${logs()}`);
    // Each epoch's values came before the next epoch's row: evaluated before training went on.
    const rows = await w.rows('inline');
    assert.equal(rows.epochs.size, 2 * EPOCHS);
    assert.equal(rows.metrics.size, 2 * EPOCHS);
    for (const [k, n] of rows.metrics) assert.equal(n, 1, k);
    for (const r of await w.store.listRuns({ sweep: 'inline' })) {
      const times = await w.store.prisma.$queryRaw<{ epoch: number; row: Date; value: Date }[]>`
        SELECT e.epoch, e.created_at AS row, m.created_at AS value
        FROM epochs e JOIN metric_values m ON m.run_id = e.run_id AND m.epoch = e.epoch
        WHERE e.run_id = ${r.id} ORDER BY e.epoch`;
      for (let i = 0; i + 1 < times.length; i++)
        assert.ok(
          times[i].value <= times[i + 1].row,
          `run ${r.key}: epoch ${times[i].epoch}'s value (${times[i].value.toISOString()}) before epoch ${times[i + 1].epoch}'s row (${times[i + 1].row.toISOString()})`,
        );
    }
    // The same values as in one process, bit for bit.
    const ref = await openStore({ url: refDb.url });
    cleanup.push(() => ref.close());
    for (const r of await ref.listRuns({ sweep: 'inline' })) {
      const mine = (await w.store.listRuns({ sweep: 'inline' })).find((x) => x.key === r.key)!;
      const a = await ref.runEpochs(r.id);
      const b = await w.store.runEpochs(mine.id);
      assert.deepEqual(
        b.map((e) => e.metrics.fid_face),
        a.map((e) => e.metrics.fid_face),
        `run ${r.key}`,
      );
    }
    for (const p of workers) assert.equal(await p.stop(), 0);
  });
});
