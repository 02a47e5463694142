// Requeueing trials whose job the broker no longer has. JetStream keeps a job until it is acked,
// so a run that is neither done nor failed always has its job in the trial stream, queued or held
// by a worker, except when the broker itself lost it: nats-server 2.9 drops a work-queue stream's
// delivered but unacknowledged messages when it restarts (seen here: a restart mid-sweep removed
// the jobs in progress from the stream; a worker whose job then failed had nothing to nak). The
// follower of a sweep (`fidlab run --nats`) and the coordinator look for such runs: unfinished in
// the store, no message on the run's job subject, no live worker on it, twice in a row at least
// `graceMs` apart. Those are queued again (a new message id; claims fence any overlap).
import type { JsonValue, SweepSpec, TrialJob } from '@fidlab/experiments';
import type { NatsDispatcher } from './dispatcher.js';
import { listWorkers } from './registry.js';
import { streamSubjects, type Topology } from './topology.js';

/** What the check needs of a run (the store's run rows have these fields). */
export interface UnfinishedRun {
  id: number;
  sweep: string;
  key: string;
  status: string;
  attempt: number;
  parameters: JsonValue;
  runDir: string | null;
}

/**
 * The subjects of the trial stream that hold a job (queued, or delivered and not yet acked): one
 * stream-info request listing them (paged by the client), instead of one lookup per run.
 */
export async function queuedTrialSubjects(topology: Topology): Promise<Set<string>> {
  const { names, jsm } = topology;
  return new Set(await streamSubjects(jsm, names.trialStream, names.trialSubjects));
}

export class LostJobWatch {
  private readonly suspects = new Map<number, number>();
  constructor(
    private readonly topology: Topology,
    private readonly graceMs = 2 * topology.settings.ackWaitMs + topology.settings.workerTtlMs,
  ) {}

  /**
   * Runs whose job is lost (see above); `runs` may hold finished ones, they are ignored. One
   * registry read and one listing of the trial stream's subjects per call, whatever the run count.
   */
  async check(runs: UnfinishedRun[], now = Date.now()): Promise<UnfinishedRun[]> {
    const { settings, names } = this.topology;
    const busy = new Set(
      (await listWorkers(this.topology, now, settings.workerTtlMs))
        .filter((w) => w.job?.kind === 'trial')
        .map((w) => w.job!.runId),
    );
    // Listed after the runs were read: a job acked since then is of a run the next call sees done.
    let queued: Set<string> | null = null;
    const lost: UnfinishedRun[] = [];
    for (const r of runs) {
      if ((r.status !== 'pending' && r.status !== 'running') || busy.has(r.id)) {
        this.suspects.delete(r.id);
        continue;
      }
      queued ??= await queuedTrialSubjects(this.topology);
      if (queued.has(names.jobSubject('trial', r.sweep, r.id))) {
        this.suspects.delete(r.id);
        continue;
      }
      const since = this.suspects.get(r.id);
      if (since === undefined) this.suspects.set(r.id, now);
      else if (now - since >= this.graceMs) {
        this.suspects.delete(r.id);
        lost.push(r);
      }
    }
    return lost;
  }
}

/**
 * Queues the trial job of each lost run again; `build` rebuilds a run's job (the sweep engine's
 * buildTrialJob / rebuildTrialJob), else a bare job with the run's parameters is queued.
 */
export async function requeueTrials(
  dispatcher: NatsDispatcher,
  spec: SweepSpec,
  runs: UnfinishedRun[],
  build?: (r: UnfinishedRun) => Promise<TrialJob | null> | TrialJob | null,
): Promise<void> {
  for (const r of runs)
    await dispatcher.publish(
      (await build?.(r)) ?? {
        kind: 'trial',
        sweep: r.sweep,
        runId: r.id,
        runKey: r.key,
        spec,
        parameters: r.parameters as Record<string, JsonValue>,
        runDir: r.runDir ?? '',
      },
      { attempt: r.attempt, requeue: String(Date.now()) },
    );
}
