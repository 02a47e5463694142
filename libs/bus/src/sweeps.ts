// A sweep's life on the queue: submitted (its runs recorded, its trial jobs queued), or waiting
// for the sweeps whose best checkpoints its metrics use; finished once every run is and no
// evaluation job of it is left. `fidlab run --nats` submits and follows; the coordinator queues
// the waiting sweeps and closes the finished ones that nobody follows (`--detach`).
import { join } from 'node:path';
import {
  buildTrialJob,
  describeTrial,
  ensureSweepInputs,
  EVALUATION_PROTOCOL,
  evaluationJobFor,
  expandTrials,
  outdatedEpochs,
  referencedSweeps,
  resolveMetrics,
  sweepSchema,
  type RecordedRun,
  type RecordedSweep,
  type Recorder,
  type ResolvedMetric,
  type SweepSpec,
  type SweepStatus,
  type Trial,
} from '@fidlab/experiments';
import type { NatsDispatcher } from './dispatcher.js';
import type { JobKind } from './wire.js';
import type { Topology } from './topology.js';

const FINISHED: ReadonlySet<string> = new Set(['done', 'failed', 'cancelled']);

/** What submitting needs of the store (the Recorder port). */
export type SubmitRecorder = Pick<
  Recorder,
  'upsertSweep' | 'setSweepStatus' | 'upsertRun' | 'getSweep' | 'best' | 'runEpochs'
>;

/** What following and closing sweeps needs of the store besides the Recorder (Store has it). */
export interface SweepLister {
  /** `runs`: how many runs are in each status (the store's summaries have it). */
  listSweeps(): Promise<
    { name: string; spec: unknown; status: SweepStatus; runs?: Partial<Record<string, number>> }[]
  >;
  listRuns(q: { sweep: string }): Promise<(RecordedRun & { status: string })[]>;
}

export interface Submission {
  spec: SweepSpec;
  sweep: RecordedSweep;
  runs: { trial: Trial; run: RecordedRun }[];
  /** Referenced sweeps (`best` extractors) not finished yet: the trials wait for them. */
  waitingFor: string[];
}

export interface QueueResult {
  queued: number;
  /** Already queued (by another submitter, or still held by a worker). */
  duplicates: number;
  done: number;
  /** Epochs of done runs queued for evaluation again (values of an older protocol). */
  reevaluations: number;
  metrics: ResolvedMetric[];
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

/** Referenced sweeps that are missing or not finished (the `best` they name may still change). */
export async function unfinishedReferences(
  spec: SweepSpec,
  recorder: Pick<Recorder, 'getSweep'>,
): Promise<string[]> {
  const out: string[] = [];
  for (const name of referencedSweeps(spec)) {
    const s = await recorder.getSweep(name);
    // A missing sweep is left to resolveMetrics, which says so.
    if (s && !FINISHED.has(s.status)) out.push(name);
  }
  return out;
}

/**
 * Records the sweep and a run per trial (`<runsDir>/<sweep>/<key>` each), after checking its data
 * and extractors. The sweep is `running` unless it waits for referenced sweeps (`pending`); its
 * trial jobs are not queued yet: `queueTrials` does that.
 */
export async function submitSweep(
  spec: SweepSpec,
  o: { recorder: SubmitRecorder; runsDir: string; log: (line: string) => void },
): Promise<Submission> {
  await ensureSweepInputs(spec, o.log);
  const waitingFor = await unfinishedReferences(spec, o.recorder);
  let sweep = await onceMore(() =>
    o.recorder.upsertSweep({
      name: spec.name,
      spec,
      status: waitingFor.length ? 'pending' : 'running',
    }),
  );
  const status: SweepStatus = waitingFor.length ? 'pending' : 'running';
  if (sweep.status !== status) sweep = await o.recorder.setSweepStatus(spec.name, status);
  const runs = [];
  for (const trial of expandTrials(spec)) {
    const runDir = join(o.runsDir, spec.name, trial.key);
    const run = await onceMore(() =>
      o.recorder.upsertRun({
        sweepId: sweep.id,
        key: trial.key,
        parameters: trial.parameters,
        runDir,
      }),
    );
    runs.push({ trial, run });
  }
  return { spec, sweep, runs, waitingFor };
}

/**
 * Resolves the sweep's `best` references, marks it running and queues the trial job of every run
 * that is not done and has no job on the queue. Two submitters doing this at once queue each
 * trial once (the job's message id is sweep + run key + attempt).
 */
export async function queueTrials(
  sub: Pick<Submission, 'spec' | 'runs'>,
  o: { recorder: SubmitRecorder; dispatcher: NatsDispatcher; topology: Topology },
): Promise<QueueResult> {
  const { spec } = sub;
  // Workers run the jobs: a best checkpoint may be an artifact of their store.
  const metrics = await resolveMetrics(spec, o.recorder, { artifacts: true });
  await o.recorder.setSweepStatus(spec.name, 'running');
  const result: QueueResult = { queued: 0, duplicates: 0, done: 0, reevaluations: 0, metrics };
  const total = expandTrials(spec).length;
  const onQueue = await queuedJobs(o.topology, 'trial', spec.name);
  for (const { trial, run } of sub.runs) {
    const label = `trial ${trial.index + 1}/${total} [${describeTrial(trial)}]`;
    const job = buildTrialJob(spec, trial, {
      runId: run.id,
      runDir: run.runDir ?? '',
      label,
      metrics,
    });
    if (run.status === 'done') {
      result.done++;
      // As an in-process run does: values of an older evaluation protocol are measured again
      // from their checkpoints, so that no curve mixes protocols (no training, no claim).
      for (const e of await outdatedEpochs(spec, o.recorder, run.id)) {
        if (!e.checkpoint) continue;
        const ev = evaluationJobFor(job, {
          type: 'checkpoint',
          sweep: spec.name,
          runId: run.id,
          epoch: e.epoch,
          checkpoint: e.checkpoint,
        });
        // A message id of its own (the first evaluation's id may still be in the duplicate
        // window); two submitters queueing the same re-evaluation still send one.
        const id = { attempt: run.attempt, requeue: `protocol-${EVALUATION_PROTOCOL}` };
        if (ev && (await o.dispatcher.publish(ev, id)).queued) result.reevaluations++;
      }
      continue;
    }
    // Its job still on the queue (waiting, or with a worker): another submitter queued it. Two
    // submitters that both look before either publishes send the same message id instead.
    if (onQueue.has(run.id)) {
      result.duplicates++;
      continue;
    }
    const r = await o.dispatcher.publish(job, { attempt: run.attempt });
    if (r.queued) result.queued++;
    else result.duplicates++;
  }
  return result;
}

/** Run id -> number of jobs of that kind on the queue for the sweep (one stream lookup). */
export async function queuedJobs(
  topology: Topology,
  kind: JobKind,
  sweep: string,
): Promise<Map<number, number>> {
  const { jsm, names } = topology;
  const stream = kind === 'trial' ? names.trialStream : names.evalStream;
  const info = await jsm.streams.info(stream, {
    subjects_filter: names.sweepJobSubjects(kind, sweep),
  });
  const out = new Map<number, number>();
  for (const [subject, n] of Object.entries(info.state.subjects ?? {}))
    out.set(Number(subject.slice(subject.lastIndexOf('.') + 1)), n);
  return out;
}

export interface SweepState {
  /** Every run finished, no failed one being retried, no evaluation job left. */
  finished: boolean;
  /** Finished with a run not done. */
  failed: boolean;
  /** Runs whose jobs are on the queue (trial or evaluation). */
  active: number;
}

/**
 * Whether a sweep's work is over. A trial is done when its training is; the evaluation of its
 * last checkpoints may still be queued, so the sweep is not finished (nor its best epoch known)
 * until those are gone too. A failed run whose trial job is still queued is being retried.
 */
export async function sweepState(
  topology: Topology,
  sweep: string,
  runs: { id: number; status: string }[],
): Promise<SweepState> {
  const trials = await queuedJobs(topology, 'trial', sweep);
  const evals = await queuedJobs(topology, 'evaluation', sweep);
  let finished = runs.length > 0 && evals.size === 0;
  let failed = false;
  for (const r of runs) {
    const retrying = r.status === 'failed' && trials.has(r.id);
    if (!FINISHED.has(r.status) || retrying) finished = false;
    if (r.status !== 'done') failed = true;
  }
  return {
    finished,
    failed: finished && failed,
    active: new Set([...trials.keys(), ...evals.keys()]).size,
  };
}

/**
 * The coordinator's sweep bookkeeping, once per period: a running sweep whose work is over gets
 * its final status (done, or failed when a run failed); a pending sweep whose referenced sweeps
 * have finished gets its trials queued (or, when a reference cannot be resolved, fails with the
 * reason on its runs). Says what it did, one line each, as it goes.
 */
export async function advanceSweeps(o: {
  store: SweepLister & SubmitRecorder & Pick<Recorder, 'setRunStatus'>;
  dispatcher: NatsDispatcher;
  topology: Topology;
  log: (line: string) => void;
}): Promise<void> {
  for (const s of await o.store.listSweeps()) {
    if (s.status === 'running') {
      // Runs still pending or running: not over, whatever the queue holds (no run listing).
      if ((s.runs?.pending ?? 0) + (s.runs?.running ?? 0) > 0) continue;
      const runs = await o.store.listRuns({ sweep: s.name });
      const state = await sweepState(o.topology, s.name, runs);
      if (!state.finished) continue;
      await o.store.setSweepStatus(s.name, state.failed ? 'failed' : 'done');
      o.log(`sweep ${s.name} ${state.failed ? 'failed' : 'done'}: every run finished`);
    } else if (s.status === 'pending') {
      const parsed = sweepSchema.safeParse(s.spec);
      if (!parsed.success || referencedSweeps(parsed.data).length === 0) continue;
      const spec = parsed.data;
      if ((await unfinishedReferences(spec, o.store)).length > 0) continue;
      const rows = new Map((await o.store.listRuns({ sweep: s.name })).map((r) => [r.key, r]));
      const runs = expandTrials(spec).flatMap((trial) => {
        const run = rows.get(trial.key);
        return run ? [{ trial, run }] : [];
      });
      try {
        const r = await queueTrials({ spec, runs }, { ...o, recorder: o.store });
        o.log(
          `sweep ${s.name}: referenced sweeps finished, ${r.queued} trial(s) queued (${r.duplicates} already queued, ${r.done} done)`,
        );
      } catch (e) {
        const reason = `cannot queue: ${(e as Error).message}`;
        for (const { run } of runs)
          if (run.status !== 'done')
            await o.store.setRunStatus(run.id, 'failed', { error: reason });
        await o.store.setSweepStatus(s.name, 'failed');
        o.log(`sweep ${s.name} failed: ${reason}`);
      }
    }
  }
}
