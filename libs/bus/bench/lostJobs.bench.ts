// The coordinator's lost-job check, timed over N runs in a fresh database and a nats-server of the
// bench's own. One running sweep of N runs: 20% done (their jobs acked, gone from the stream),
// 1% pending with no job in the stream (what a broker restart leaves: the check must find them),
// the rest pending with their job queued. Each check runs with a grace of 0 (a run is lost on its
// second sighting), so both checks must name the same lost runs on every second call.
//   reference: the check as the coordinator ran it before: listSweeps, listRuns of each running
//              sweep (every run with its summary), then per unfinished run a stream lookup;
//   current:   store.listUnfinishedRuns() (pending/running runs of running sweeps, few columns),
//              then LostJobWatch.check (one registry read, one listing of the trial stream's
//              subjects).
// Usage: node --import tsx --conditions=@fidlab/source libs/bus/bench/lostJobs.bench.ts [--runs 5000]
import { parseArgs } from 'node:util';
import { openStore, type Store } from '@fidlab/store';
import { createTestDatabase } from '@fidlab/testing';
import type { TrialJob } from '@fidlab/experiments';
import {
  busSettings,
  connectBus,
  ensureTopology,
  listWorkers,
  LostJobWatch,
  NatsDispatcher,
  type Topology,
  type UnfinishedRun,
} from '../src/index.js';
import { TestNatsServer } from '../test/natsServer.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5000' } } });
const N = Number(values.runs);
const REPEATS = 6;
const log = (l: string) => process.stderr.write(l + '\n');

/** Whether a run's trial job is in the trial stream: the reference's one lookup per run. */
async function jobQueued(topology: Topology, run: { id: number; sweep: string }): Promise<boolean> {
  const { names, jsm } = topology;
  return jsm.streams
    .getMessage(names.trialStream, { last_by_subj: names.jobSubject('trial', run.sweep, run.id) })
    .then((m) => m !== null)
    .catch((e: Error) => {
      if (/no message found/i.test(e.message)) return false;
      throw e;
    });
}

/** The check before this change (lostJobs.ts and the coordinator's tick, as they were). */
class ReferenceWatch {
  private readonly suspects = new Map<number, number>();
  constructor(private readonly topology: Topology) {}
  async tick(store: Store): Promise<number[]> {
    const lost: number[] = [];
    for (const s of await store.listSweeps()) {
      if (s.status !== 'running') continue;
      const runs = await store.listRuns({ sweep: s.name });
      const { settings } = this.topology;
      const busy = new Set(
        (await listWorkers(this.topology, Date.now(), settings.workerTtlMs))
          .filter((w) => w.job?.kind === 'trial')
          .map((w) => w.job!.runId),
      );
      for (const r of runs) {
        if ((r.status !== 'pending' && r.status !== 'running') || busy.has(r.id)) {
          this.suspects.delete(r.id);
          continue;
        }
        if (await jobQueued(this.topology, r)) {
          this.suspects.delete(r.id);
          continue;
        }
        if (!this.suspects.has(r.id)) this.suspects.set(r.id, Date.now());
        else {
          this.suspects.delete(r.id);
          lost.push(r.id);
        }
      }
    }
    return lost;
  }
}

async function main() {
  const nats = await TestNatsServer.start();
  const db = await createTestDatabase({ prefix: 'fidlab_bench_lost' });
  if (typeof db === 'string') throw new Error(db);
  const store = await openStore({ url: db.url });
  const nc = await connectBus({ servers: [nats.url] });
  const topology = await ensureTopology(nc, busSettings({ ackWaitMs: 4000 }));
  try {
    const t0 = performance.now();
    const sweep = await store.upsertSweep({
      name: 'scale',
      spec: { fake: true },
      status: 'running',
    });
    // A finished sweep too: neither check may read its runs' jobs.
    await store.upsertSweep({ name: 'old', spec: { fake: true }, status: 'done' });
    const d = new NatsDispatcher(nc, topology);
    const expectedLost: number[] = [];
    const BATCH = 25;
    for (let i0 = 0; i0 < N; i0 += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, N - i0) }, async (_, j) => {
          const i = i0 + j;
          const key = `t${i}`;
          const parameters = { seed: i, lr: 0.0002, ngf: 64, note: `trial ${i} of the bench` };
          const r = await store.upsertRun({
            sweepId: sweep.id,
            key,
            parameters,
            runDir: `/runs/${key}`,
          });
          if (i % 5 === 0) await store.setRunStatus(r.id, 'done');
          else if (i % 100 === 1) expectedLost.push(r.id);
          else {
            const job: TrialJob = {
              kind: 'trial',
              sweep: 'scale',
              runId: r.id,
              runKey: key,
              spec: { fake: true } as never,
              parameters: parameters as never,
              runDir: `/runs/${key}`,
            };
            await d.submit(job, { attempt: r.attempt });
          }
        }),
      );
    }
    log(
      `set up ${N} runs (${expectedLost.length} lost) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    expectedLost.sort((a, b) => a - b);

    const reference = new ReferenceWatch(topology);
    const current = new LostJobWatch(topology, 0);
    const times = { reference: [] as number[], current: [] as number[] };
    const same = (got: number[], what: string) => {
      const g = [...got].sort((a, b) => a - b);
      if (JSON.stringify(g) !== JSON.stringify(expectedLost))
        throw new Error(`${what}: found ${g.length} lost runs, expected ${expectedLost.length}`);
    };
    for (let k = 0; k < REPEATS; k++) {
      // Alternate which goes first, so neither always meets a warm cache.
      for (const which of k % 2
        ? (['current', 'reference'] as const)
        : (['reference', 'current'] as const)) {
        const t = performance.now();
        let lost: number[];
        if (which === 'reference') lost = await reference.tick(store);
        else
          lost = (await current.check((await store.listUnfinishedRuns()) as UnfinishedRun[])).map(
            (r) => r.id,
          );
        times[which].push(performance.now() - t);
        // First sighting: suspects only; second: the lost runs, then suspects again.
        if (k % 2 === 1) same(lost, which);
        else if (lost.length !== 0) throw new Error(`${which}: lost on first sighting`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const ref = median(times.reference);
    const cur = median(times.current);
    const result = {
      runs: N,
      lost: expectedLost.length,
      repeats: REPEATS,
      referenceMs: Math.round(ref),
      currentMs: Math.round(cur),
      speedup: Number((ref / cur).toFixed(1)),
      referenceAllMs: times.reference.map(Math.round),
      currentAllMs: times.current.map(Math.round),
    };
    console.log(JSON.stringify(result));
  } finally {
    await nc.close();
    await store.close();
    await nats.stop();
    await db.drop();
  }
}

await main();
