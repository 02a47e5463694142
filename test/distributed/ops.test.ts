// Operating a deployment, on real servers (a nats-server and a PostgreSQL database of the test's
// own, `--fake` workers): `fidlab workers start` (one child per GPU or --count, CUDA_VISIBLE_DEVICES
// per child, signals forwarded, nothing restarted), `fidlab workers [--json]`, and the
// coordinator's tRPC `workers.list` (live workers with host, GPU, role, job and heartbeat; a
// SIGKILLed worker gone within the registry TTL). Leases are 3 s and the TTL 4 s here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createApiClient } from '@fidlab/api';
import { listWorkers, type WorkerEntry } from '@fidlab/bus';
import {
  busEnv,
  coordinatorProcess,
  servicesSkipReason,
  suiteResources,
  TEST_BUS,
  until,
  World,
  WorkerProcess,
} from './harness.js';

const skip = await servicesSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const root = join(import.meta.dirname, '../..');

/** A long-running `fidlab ...` from the sources, with the suite's queue settings. */
function fidlab(args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  return new WorkerProcess(
    args,
    { ...busEnv(), FIDLAB_FAKE_EPOCH_MS: '700', ...env },
    'tools/dev-fidlab.ts',
  );
}

/** A one-shot `fidlab ...` from the sources: its exit status and output. */
function fidlabSync(args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@fidlab/source', 'tools/dev-fidlab.ts', ...args],
    { cwd: root, encoding: 'utf8', env: { ...process.env, ...busEnv() } },
  );
}

/** The environment a process started with (what a child of `workers start` was given). */
function startEnv(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Child pids the parent announced, by label ("worker 1", "trainer gpu 0", "evaluator 1"). */
function children(parent: WorkerProcess): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of parent.lines) {
    const r = /^fidlab workers: started (.+) \(pid (\d+)\)$/.exec(l);
    if (r) m.set(r[1], Number(r[2]));
  }
  return m;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('operating workers on real servers', { skip: skip ?? false, concurrency: false }, () => {
  const resources = suiteResources(after);
  const world = resources.world;
  // The parent of `workers start` forwards SIGTERM; kill any child it left, then it.
  const track = (p: WorkerProcess) =>
    resources.track(p, () => {
      for (const pid of children(p).values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
  const live = (w: World) => listWorkers(w.topology, Date.now(), TEST_BUS.workerTtlMs);
  /** `fidlab workers start` of three fake workers (`extra` says which), once all are listed. */
  const startWorkers = async (w: World, ...extra: string[]) => {
    const parent = track(
      fidlab([
        'workers',
        'start',
        '--nats',
        w.nats.url,
        '--db',
        w.db.url,
        '--runs-dir',
        join(w.dir, 'runs'),
        '--fake',
        ...extra,
      ]),
    );
    await until(
      () => `3 workers registered\n${parent.lines.join('\n')}`,
      async () => (await live(w)).length === 3,
    );
    return parent;
  };

  test('workers start --count 2 --evaluators 1: listed with their roles; SIGTERM reaches all, each exits 0', async () => {
    const w = await world();
    const parent = await startWorkers(w, '--count', '2', '--evaluators', '1');
    const pids = children(parent);
    assert.deepEqual([...pids.keys()].sort(), ['evaluator 1', 'worker 1', 'worker 2']);
    // `fidlab workers --json`: the registry as the CLI reads it.
    const r = fidlabSync(['workers', '--nats', w.nats.url, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const listed = (JSON.parse(r.stdout) as { workers: WorkerEntry[] }).workers;
    const byPid = new Map(listed.map((x) => [x.pid, x]));
    for (const [label, pid] of pids) {
      const e = byPid.get(pid);
      assert.ok(e, `${label} (pid ${pid}) listed: ${r.stdout}`);
      assert.equal(e.role, label.startsWith('evaluator') ? 'evaluator' : 'any', label);
      assert.equal(e.gpu, null, `${label} has no GPU`);
      assert.equal(e.host, hostname());
      assert.equal(e.job, null);
      assert.ok(Date.now() - e.heartbeatAt <= TEST_BUS.workerTtlMs!, 'a fresh heartbeat');
      assert.equal(startEnv(pid).CUDA_VISIBLE_DEVICES, undefined, `${label}: no GPU set`);
    }
    // The table form: a header and one row per worker with host, gpu '-', role and 'idle'.
    const t = fidlabSync(['workers', '--nats', w.nats.url]);
    assert.equal(t.status, 0, t.stderr);
    const rows = t.stdout.trim().split('\n');
    assert.match(rows[0], /^worker\s+host\s+gpu\s+role\s+job\s+heartbeat\s+done\s+failed$/);
    assert.equal(rows.length, 4, t.stdout);
    for (const row of rows.slice(1))
      assert.match(
        row,
        new RegExp(
          `^\\S+\\s+${hostname()}\\s+-\\s+(any|evaluator)\\s+idle\\s+\\d+\\.\\d s ago\\s+0\\s+0$`,
        ),
      );
    // SIGTERM to the parent only: it reaches every child, each exits 0, so does the parent.
    parent.signal('SIGTERM');
    assert.equal(await parent.exited, 0, parent.lines.join('\n'));
    for (const [label, pid] of pids) {
      assert.ok(
        parent.has(new RegExp(`^fidlab workers: ${label} \\(pid ${pid}\\) exited 0$`)),
        `${label} exited 0:\n${parent.lines.join('\n')}`,
      );
      assert.ok(!alive(pid), `${label} gone`);
    }
    assert.ok(parent.has(/: SIGTERM: handing back the current job, then exiting/));
    // A clean exit deletes the worker's entry at once (no TTL wait).
    assert.equal((await live(w)).length, 0);
  });

  test('workers start --gpus 0,1 --evaluators 1: CUDA_VISIBLE_DEVICES per child; a SIGKILLed child is reported, not restarted', async () => {
    const w = await world();
    const parent = await startWorkers(w, '--gpus', '0,1', '--evaluators', '1');
    const pids = children(parent);
    const expected: Record<string, { role: string; gpu: string }> = {
      'trainer gpu 0': { role: 'trainer', gpu: '0' },
      'trainer gpu 1': { role: 'trainer', gpu: '1' },
      // Evaluators share the first GPU.
      'evaluator 1': { role: 'evaluator', gpu: '0' },
    };
    assert.deepEqual([...pids.keys()].sort(), Object.keys(expected).sort());
    const byPid = new Map((await live(w)).map((x) => [x.pid, x]));
    for (const [label, pid] of pids) {
      const e = byPid.get(pid)!;
      assert.ok(e, `${label} (pid ${pid}) registered`);
      assert.equal(e.role, expected[label].role, label);
      assert.equal(e.gpu, expected[label].gpu, label);
      // What the child process itself was started with, read from /proc.
      assert.equal(startEnv(pid).CUDA_VISIBLE_DEVICES, expected[label].gpu, label);
    }
    // SIGKILL one child: the parent reports it and starts nothing in its place.
    const victim = pids.get('trainer gpu 1')!;
    process.kill(victim, 'SIGKILL');
    await parent.waitFor(
      new RegExp(`^fidlab workers: trainer gpu 1 \\(pid ${victim}\\) exited on SIGKILL$`),
      20_000,
    );
    // Its registry entry expires with the TTL; the other two stay; nothing new appears.
    await until(
      'the killed worker expired from the registry',
      async () => !(await live(w)).some((x) => x.pid === victim),
      TEST_BUS.workerTtlMs! + 5_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const left = await live(w);
    assert.deepEqual(
      left.map((x) => x.pid).sort(),
      [pids.get('trainer gpu 0')!, pids.get('evaluator 1')!].sort(),
    );
    assert.equal(
      parent.lines.filter((l) => / started /.test(l)).length,
      3,
      `nothing restarted:\n${parent.lines.join('\n')}`,
    );
    // SIGTERM: the two left exit 0; the parent exits 1 (one child died on a signal).
    parent.signal('SIGTERM');
    assert.equal(await parent.exited, 1, parent.lines.join('\n'));
    for (const label of ['trainer gpu 0', 'evaluator 1'])
      assert.ok(
        parent.has(new RegExp(`^fidlab workers: ${label} \\(pid ${pids.get(label)}\\) exited 0$`)),
        parent.lines.join('\n'),
      );
  });

  test('coordinator workers.list: host, GPU, role, current job and heartbeat; a SIGKILLed worker gone within the TTL', async () => {
    const w = await world();
    const { listening, api } = await coordinatorProcess(w, ['--public-read'], track);
    assert.match(listening.nats, /^nats:\/\/127\.0\.0\.1:\d+ \(no credentials\)$/);
    const client = createApiClient({ url: api });
    const jobs = await w.submitFake('listed', [{ epochs: 20, ms: 1000 }]);
    const busy = track(w.worker(['--role', 'trainer', '--gpu', '3', '--id', 'busy-one']));
    const idle = track(w.worker(['--role', 'evaluator', '--id', 'idle-one']));
    await busy.waitFor(/trial listed\/t0: started/);
    type Row = Awaited<ReturnType<typeof client.workers.list.query>>[number];
    let rows: Row[] = [];
    await until(
      () => `both workers listed, the busy one on its job: ${JSON.stringify(rows)}`,
      async () => {
        rows = await client.workers.list.query();
        const b = rows.find((r) => r.id === 'busy-one');
        return rows.length === 2 && (b?.info as { job: unknown } | null)?.job != null;
      },
      20_000,
    );
    const b = rows.find((r) => r.id === 'busy-one')!;
    const i = rows.find((r) => r.id === 'idle-one')!;
    assert.equal(b.hostname, hostname());
    assert.equal(b.pid, busy.proc.pid);
    assert.equal(b.status, 'busy');
    const info = b.info as { role: string; gpu: string | null; job: Record<string, unknown> };
    assert.equal(info.role, 'trainer');
    assert.equal(info.gpu, '3');
    assert.equal(info.job.kind, 'trial');
    assert.equal(info.job.sweep, 'listed');
    assert.equal(info.job.runKey, 't0');
    assert.equal(info.job.runId, jobs[0].runId);
    assert.ok(Date.now() - Date.parse(b.lastSeenAt) <= TEST_BUS.workerTtlMs!, b.lastSeenAt);
    assert.equal(i.status, 'idle');
    assert.deepEqual(
      {
        role: (i.info as { role: string }).role,
        gpu: (i.info as { gpu: unknown }).gpu,
        job: (i.info as { job: unknown }).job,
      },
      { role: 'evaluator', gpu: null, job: null },
    );
    // Mutations still need a token on a coordinator with --public-read and --nats.
    await assert.rejects(
      client.sweeps.cancel.mutate({ name: 'listed' }),
      /a bearer token is required|UNAUTHORIZED|token/i,
    );
    // SIGKILL the busy worker: no clean exit, so only the TTL removes it.
    busy.signal('SIGKILL');
    await busy.exited;
    const killedAt = Date.now();
    await until(
      'the killed worker gone from workers.list',
      async () => !(await client.workers.list.query()).some((r) => r.id === 'busy-one'),
      TEST_BUS.workerTtlMs! + 5_000,
    );
    const gone = Date.now() - killedAt;
    assert.ok(
      gone <= TEST_BUS.workerTtlMs! + 1000,
      `gone after ${gone} ms (TTL ${TEST_BUS.workerTtlMs} ms)`,
    );
    assert.deepEqual(
      (await client.workers.list.query()).map((r) => r.id),
      ['idle-one'],
    );
    assert.equal(await idle.stop(), 0);
  });

  test('coordinator lost-job check: a run whose job the broker lost is requeued once and completes; queued ones are left alone', async () => {
    const w = await world();
    const { proc: coordinator } = await coordinatorProcess(w, [], track);
    const jobs = await w.submitFake('lostjob', [
      { epochs: 2, ms: 300 },
      { epochs: 2, ms: 300 },
    ]);
    // What nats-server 2.9 does to a delivered job on restart: the message is gone from the
    // stream while its run stays pending in the store.
    const { names, jsm } = w.topology;
    const m = await jsm.streams.getMessage(names.trialStream, {
      last_by_subj: names.jobSubject('trial', 'lostjob', jobs[1].runId),
    });
    assert.ok(m, 't1 was queued');
    assert.equal(await jsm.streams.deleteMessage(names.trialStream, m.seq), true);
    const worker = track(w.worker(['--role', 'any']));
    await until(
      () =>
        `both runs done\n${coordinator.lines.slice(-10).join('\n')}\n--\n${worker.lines.slice(-15).join('\n')}`,
      async () => {
        const runs = await Promise.all(jobs.map((j) => w.store.getRun(j.runId)));
        return runs.every((r) => r!.status === 'done');
      },
      60_000,
    );
    const requeues = coordinator.lines.filter((l) => /requeueing/.test(l));
    assert.deepEqual(requeues, [
      'fidlab-coordinator: requeueing lostjob/t1: the broker lost their jobs',
    ]);
    const starts = worker.lines.filter((l) => /: trial lostjob\/\S+: started/.test(l));
    assert.equal(starts.length, 2, starts.join('\n'));
    assert.equal(await worker.stop(), 0);
  });
});
