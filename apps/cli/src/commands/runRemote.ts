// `fidlab run SWEEP.yaml --nats URL --db URL`: submits the sweep's trials to the NATS work queue
// and follows it (live progress lines from the sweep's events, completion read from the store),
// then prints the same best-epoch table as an in-process run. Two submitters of the same sweep
// at once queue each trial once: every trial job's Nats-Msg-Id is sweep + run key + attempt.
import { resolve } from 'node:path';
import type { NatsConnection, Topology } from '@fidlab/bus';
import {
  buildTrialJob,
  describeTrial,
  type SweepSpec,
  type TrialOutcome,
} from '@fidlab/experiments';
import type { Store } from '@fidlab/store';
import type { Io } from '../command.js';
import { fmt } from '../format.js';

export interface RemoteRunOptions {
  spec: SweepSpec;
  file: string;
  store: Store;
  nc: NatsConnection;
  topology: Topology;
  runsDir?: string;
  detach: boolean;
  io: Io;
  /** How often the store is read for completion (events make it prompt; this is the backstop). */
  pollMs?: number;
  printBest(outcomes: TrialOutcome[]): Promise<void>;
}

export async function runRemote(o: RemoteRunOptions): Promise<number> {
  const { spec, store, io } = o;
  const bus = await import('@fidlab/bus');
  const { LostJobWatch, NatsDispatcher, requeueTrials } = bus;
  const dispatcher = new NatsDispatcher(o.nc, o.topology);
  const runsDir = resolve(o.runsDir ?? '.fidlab/runs');
  const poll = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Data checked, runs recorded; trials queued once the sweeps its `best` extractors name are
  // finished (now, or later by this follower or the coordinator).
  const sub = await bus.submitSweep(spec, { recorder: store, runsDir, log: (l) => io.err(l) });
  const trials = sub.runs.map((r) => r.trial);
  const runs = sub.runs;
  const since = new Date();
  if (sub.waitingFor.length > 0) {
    const which = sub.waitingFor.join(', ');
    io.err(
      `sweep ${spec.name} waits for sweep(s) ${which} to finish: its metrics use their best checkpoints`,
    );
    if (o.detach) {
      io.err(
        `detached; a running fidlab-coordinator queues its trials when ${which} finished (or run the same command without --detach)`,
      );
      return 0;
    }
    for (;;) {
      await poll(o.pollMs ?? 1000);
      const left = await bus.unfinishedReferences(spec, store).catch(() => sub.waitingFor);
      if (left.length === 0) break;
    }
    io.err(`sweep(s) ${which} finished: queueing ${spec.name}`);
  }
  const q = await bus.queueTrials(sub, { recorder: store, dispatcher, topology: o.topology });
  const metrics = q.metrics;
  io.err(
    `submitted sweep ${spec.name}: ${trials.length} trial(s): ${q.queued} queued, ${q.duplicates} already queued, ${q.done} already done` +
      (q.reevaluations
        ? `; ${q.reevaluations} epoch(s) with values of an older evaluation protocol queued for evaluation again`
        : ''),
  );
  if (o.detach) {
    io.err(`detached; follow it with 'fidlab runs --sweep ${spec.name}' or the API`);
    return 0;
  }
  const keyOf = new Map(runs.map(({ run }) => [run.id, run.key]));
  const ac = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    io.err('interrupted: stopped following; the workers go on (run the same command to follow)');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  // Live lines from the events; completion from the store (events may be missed across a broker
  // restart, the store is the truth).
  const waker: { wake: (() => void) | null } = { wake: null };
  const follow = (async () => {
    for (;;) {
      try {
        for await (const e of dispatcher.events(spec.name, ac.signal, since)) {
          const runId = (e as { runId?: number }).runId;
          const key = runId !== undefined ? keyOf.get(runId) : undefined;
          if (runId !== undefined && key === undefined) continue;
          const tag = key ? `[${key}] ` : '';
          if (e.type === 'checkpoint') io.err(`${tag}epoch ${e.epoch}: checkpoint recorded`);
          else if (e.type === 'metrics')
            io.err(
              `${tag}epoch ${e.epoch}: ${e.values.map((v) => `${v.name}=${fmt(v.value, 4)}`).join(' ')}`,
            );
          else if (e.type === 'log') io.err(`${tag}${e.line}`);
          else if (e.type === 'trial-finished') {
            io.err(`${tag}trial ${e.status}${e.error ? `: ${e.error}` : ''}`);
            waker.wake?.();
          }
        }
        return;
      } catch (err) {
        if (ac.signal.aborted) return;
        io.err(`events: ${(err as Error).message}; following again`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  const lostWatch = new LostJobWatch(o.topology);
  let statuses: Map<number, string> = new Map();
  try {
    for (;;) {
      const rows = await store.listRuns({ sweep: spec.name }).catch((e: unknown) => {
        io.err(`store: ${(e as Error).message.split('\n')[0]}; retrying`);
        return null;
      });
      if (rows) {
        statuses = new Map(rows.map((r) => [r.id, r.status]));
        // Finished: every run is, none is being retried and no evaluation is left (the best
        // epoch is not known before the last checkpoint's values are in).
        const mine = rows.filter((r) => keyOf.has(r.id));
        const state = await bus.sweepState(o.topology, spec.name, mine).catch(() => null);
        if (state?.finished && mine.length === runs.length) break;
        const lost = await lostWatch.check(rows.filter((r) => keyOf.has(r.id))).catch(() => []);
        if (lost.length > 0) {
          io.err(
            `requeueing ${lost.map((r) => r.key).join(', ')}: unfinished, not queued and no live worker on it (the broker lost the job)`,
          );
          const byId = new Map(runs.map(({ trial, run }) => [run.id, trial]));
          const build = (r: { id: number; runDir: string | null }) =>
            buildTrialJob(spec, byId.get(r.id)!, {
              runId: r.id,
              runDir: r.runDir ?? '',
              label: `trial ${byId.get(r.id)!.index + 1}/${trials.length} [${describeTrial(byId.get(r.id)!)}]`,
              metrics,
            });
          await requeueTrials(dispatcher, spec, lost, build).catch((e: unknown) =>
            io.err(`requeue failed: ${(e as Error).message}`),
          );
        }
      }
      if (ac.signal.aborted) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, o.pollMs ?? 1000);
        waker.wake = () => (clearTimeout(t), r());
      });
    }
  } finally {
    ac.abort();
    process.off('SIGINT', onSigint);
    await follow;
  }
  if (interrupted) return 130;
  const outcomes: TrialOutcome[] = [];
  for (const { trial, run } of runs) {
    const status = statuses.get(run.id) as TrialOutcome['status'];
    const row = await store.getRun(run.id);
    outcomes.push({ trial, runId: run.id, status, error: row?.error ?? undefined });
    if (status === 'failed')
      io.err(`trial ${trial.index + 1} [${describeTrial(trial)}] failed: ${row?.error ?? '?'}`);
  }
  const failed = outcomes.some((x) => x.status !== 'done');
  await store.setSweepStatus(spec.name, failed ? 'failed' : 'done');
  await o.printBest(outcomes);
  return failed ? 1 : 0;
}
