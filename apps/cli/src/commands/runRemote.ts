// `fidlab run SWEEP.yaml --nats URL --db URL`: submits the sweep's trials to the NATS work queue
// and follows it (live progress lines from the sweep's events, completion read from the store),
// then prints the same best-epoch table as an in-process run. Two submitters of the same sweep
// at once queue each trial once: every trial job's Nats-Msg-Id is sweep + run key + attempt.
import { join, resolve } from 'node:path';
import type { NatsConnection, Topology } from '@fidlab/bus';
import {
  buildTrialJob,
  describeTrial,
  expandTrials,
  prepareSweep,
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

/**
 * Another submitter of the same sweep may create the same row between this upsert's read and its
 * insert (a unique-constraint error): the row exists then, and the second try reads it.
 */
async function onceMore<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== 'P2002' && !/Unique constraint/i.test((e as Error).message)) throw e;
    return fn();
  }
}

export async function runRemote(o: RemoteRunOptions): Promise<number> {
  const { spec, store, io } = o;
  const { jobQueued, LostJobWatch, NatsDispatcher, requeueTrials } = await import('@fidlab/bus');
  const dispatcher = new NatsDispatcher(o.nc, o.topology);
  const runsDir = resolve(o.runsDir ?? '.fidlab/runs');
  // Data generated, extractors checked and `best` references resolved once, here.
  const metrics = await prepareSweep(spec, store, (l) => io.err(l));
  const sweep = await onceMore(() =>
    store.upsertSweep({ name: spec.name, spec, status: 'running' }),
  );
  if (sweep.status !== 'running') await store.setSweepStatus(spec.name, 'running');
  const trials = expandTrials(spec);
  const since = new Date();
  let queued = 0;
  let duplicates = 0;
  let done = 0;
  const runs = [];
  for (const trial of trials) {
    const runDir = join(runsDir, spec.name, trial.key);
    const run = await onceMore(() =>
      store.upsertRun({ sweepId: sweep.id, key: trial.key, parameters: trial.parameters, runDir }),
    );
    runs.push({ trial, run });
    if (run.status === 'done') {
      done++;
      continue;
    }
    // Its job still on the queue (waiting, or with a worker): another submitter queued it. Two
    // submitters that both look before either publishes send the same message id instead.
    if (await jobQueued(o.topology, { id: run.id, sweep: spec.name })) {
      duplicates++;
      continue;
    }
    const label = `trial ${trial.index + 1}/${trials.length} [${describeTrial(trial)}]`;
    const r = await dispatcher.publish(
      buildTrialJob(spec, trial, { runId: run.id, runDir, label, metrics }),
      { attempt: run.attempt },
    );
    if (r.queued) queued++;
    else duplicates++;
  }
  io.err(
    `submitted sweep ${spec.name}: ${trials.length} trial(s): ${queued} queued, ${duplicates} already queued, ${done} already done`,
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
  const finished = new Set(['done', 'failed', 'cancelled']);
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
        // A failed run whose job is still queued is being retried (backoff): not finished yet.
        for (const r of rows)
          if (r.status === 'failed' && keyOf.has(r.id) && (await jobQueued(o.topology, r)))
            statuses.set(r.id, 'retrying');
        const left = runs.filter(({ run }) => !finished.has(statuses.get(run.id) ?? ''));
        if (left.length === 0) break;
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
