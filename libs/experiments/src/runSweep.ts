// The sweep engine: expands a sweep into trials, records a run per trial, submits trial jobs to a
// Dispatcher and follows its events until every trial has finished, then sets the sweep's status.
// It talks to the ports only (Recorder, Dispatcher): the in-process dispatcher gives `fidlab run`,
// a NATS dispatcher gives distributed workers. What a trial does lives in trials/.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { synthDataset } from '@fidlab/datasets';
import { extractorNameProblem } from '@fidlab/features';
import {
  EVALUATION_PROTOCOL,
  epochsToReevaluate,
  type ResolvedMetric,
} from './evaluateCheckpoint.js';
import { describeTrial, expandTrials, type Trial } from './expandTrials.js';
import { isUri } from './artifactCheckpointStore.js';
import { InProcessDispatcher } from './inProcessDispatcher.js';
import type {
  Claim,
  Dispatcher,
  JsonValue,
  RecordedEpoch,
  Recorder,
  SweepEvent,
  TrialJob,
} from './ports.js';
import { formatPath, metricNames, sweepSchema, type SweepSpec } from './sweepSpec.js';
import { toTrainConfig } from './trialConfig.js';
import { sweepValueNames } from './trials/pix2pixTrial.js';

export interface RunSweepOptions {
  /** Where runs, epochs and values are recorded (@fidlab/store's Store is one). */
  recorder: Recorder;
  /** Where trial jobs run; default: in this process, one at a time (InProcessDispatcher). */
  dispatcher?: Dispatcher;
  /**
   * Claim each trial for this worker before submitting it (the embedded runner: it registers as
   * a worker and heartbeats). A trial whose live claim another worker holds is not trained here:
   * the engine says so in one line, goes on with the others and waits for it at the end. Without
   * it, nothing is claimed here (workers behind the dispatcher claim their jobs themselves).
   */
  workerId?: string;
  /** How often a trial claimed elsewhere is looked at again (ms, default 2000). */
  pollMs?: number;
  /** Trials submitted at once (default 1: the next trial starts when one has finished). */
  parallel?: number;
  /** Run directories go to `<runsDir>/<sweep>/<trial key>`; default `.fidlab/runs`. */
  runsDir?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface TrialOutcome {
  trial: Trial;
  runId: number;
  /** done: trained (or, for a completed run, re-evaluated) now; skipped: nothing to do here. */
  status: 'done' | 'failed' | 'cancelled' | 'skipped';
  error?: string;
}

/**
 * Runs a sweep: every trial is trained with an evaluation after each `every`-th epoch, everything
 * recorded. Re-running the same sweep resumes: completed trials are skipped, unfinished ones
 * continue from their last checkpoint, and epochs already evaluated are not evaluated again
 * (writes are idempotent anyway), unless their values are of an older evaluation protocol
 * (EVALUATION_PROTOCOL): those epochs, of completed trials too, are evaluated again from their
 * checkpoints and their values replaced, so that no curve mixes protocols. `best` references of
 * metrics are resolved once, here, at the start. Outcomes come in trial order.
 */
export async function runSweep(spec: SweepSpec, opts: RunSweepOptions): Promise<TrialOutcome[]> {
  const log = opts.log ?? (() => {});
  const recorder = opts.recorder;
  const runsDir = resolve(opts.runsDir ?? '.fidlab/runs');
  const metrics = await prepareSweep(spec, recorder, log);
  const sweep = await recorder.upsertSweep({ name: spec.name, spec, status: 'running' });
  const trials = expandTrials(spec);
  log(
    `sweep ${spec.name}: ${trials.length} ${spec.trial} trial(s), metrics ${metricNames(spec).join(', ')}`,
  );
  const own = opts.dispatcher
    ? null
    : new InProcessDispatcher({ recorder, log, ...(opts.signal ? { signal: opts.signal } : {}) });
  const dispatcher = opts.dispatcher ?? own!;
  const following = new AbortController();
  const events = dispatcher.events(spec.name, following.signal)[Symbol.asyncIterator]();
  const parallel = Math.max(1, opts.parallel ?? 1);
  const outcomes: TrialOutcome[] = [];
  const inFlight = new Map<number, Trial>(); // run id -> trial
  const claims = new Map<number, Claim>(); // run id -> this runner's claim
  const waitedFor = new Set<number>(); // trial indexes claimed elsewhere when first looked at
  let stopped = false;
  // Stopped by the caller's signal, or by a cancellation in the recorder (API, another CLI).
  const checkStopped = async () => {
    stopped ||=
      opts.signal?.aborted === true || (await recorder.getSweep(spec.name))?.status === 'cancelled';
  };
  const labelOf = (trial: Trial) =>
    `trial ${trial.index + 1}/${trials.length} [${describeTrial(trial)}]`;
  /** Prepares and submits one trial: 'waiting' when another worker's live claim holds it. */
  const start = async (trial: Trial): Promise<'submitted' | 'skipped' | 'waiting'> => {
    const label = labelOf(trial);
    const runDir = join(runsDir, spec.name, trial.key);
    let run = await recorder.upsertRun({
      sweepId: sweep.id,
      key: trial.key,
      parameters: trial.parameters,
      runDir,
    });
    let claim: Claim | undefined;
    if (opts.workerId !== undefined) {
      claim = (await recorder.claimRun(run.id, opts.workerId)) ?? undefined;
      if (!claim) {
        if (!waitedFor.has(trial.index)) {
          waitedFor.add(trial.index);
          const holder = (await recorder.getRun(run.id))?.claimedBy ?? 'another worker';
          log(
            `${label}: claimed by worker ${holder}, which is alive: not training it here; waiting for it`,
          );
        }
        return 'waiting';
      }
      run = (await recorder.getRun(run.id)) ?? run;
      // A trial that failed under the worker we waited for is reported, not tried again here
      // (a cancelled one, or one whose worker died, is resumed).
      if (waitedFor.has(trial.index) && run.status === 'failed') {
        log(`${label}: failed in another worker: ${run.error ?? 'failed'}`);
        outcomes.push({
          trial,
          runId: run.id,
          status: 'failed',
          ...(run.error ? { error: run.error } : {}),
        });
        await recorder.releaseClaim(claim);
        return 'skipped';
      }
    }
    // A completed generator trial is only evaluated again where its values are outdated; its
    // status stays done (training is complete whatever the evaluation does).
    if (run.status === 'done') {
      const stale = await outdatedEpochs(spec, recorder, run.id);
      if (stale.length === 0) {
        log(`${label}: already completed, skipped`);
        outcomes.push({ trial, runId: run.id, status: 'skipped' });
        if (claim) await recorder.releaseClaim(claim);
        return 'skipped';
      }
      log(
        `${label}: already completed; ${stale.length} epoch(s) have values of an older evaluation protocol than ${EVALUATION_PROTOCOL}: evaluating them again`,
      );
    }
    inFlight.set(run.id, trial);
    if (claim) claims.set(run.id, claim);
    await dispatcher.submit(
      buildTrialJob(spec, trial, { runId: run.id, runDir, label, metrics, claim }),
    );
    return 'submitted';
  };
  try {
    const pending = [...trials];
    const waiting: Trial[] = [];
    for (;;) {
      while (!stopped && inFlight.size < parallel && pending.length > 0) {
        const trial = pending.shift()!;
        if ((await start(trial)) === 'waiting') waiting.push(trial);
      }
      if (inFlight.size === 0) {
        if (stopped || (pending.length === 0 && waiting.length === 0)) break;
        if (pending.length === 0) {
          // Only trials claimed elsewhere are left: look again when their holder may be done.
          await sleep(opts.pollMs ?? 2000, undefined, { signal: opts.signal }).catch(() => {});
          await checkStopped();
          pending.push(...waiting.splice(0));
        }
        continue;
      }
      const next = await events.next();
      if (next.done) break;
      const event: SweepEvent = next.value;
      if (event.type !== 'trial-finished') continue;
      const trial = inFlight.get(event.runId);
      if (!trial) continue;
      inFlight.delete(event.runId);
      outcomes.push({
        trial,
        runId: event.runId,
        status: event.status,
        ...(event.error !== undefined ? { error: event.error } : {}),
      });
      const claim = claims.get(event.runId);
      claims.delete(event.runId);
      // The trial is over here: a runner waiting for it may look at it now.
      if (claim) await recorder.releaseClaim(claim);
      await checkStopped();
    }
  } finally {
    following.abort();
    await own?.close();
    for (const claim of claims.values()) await recorder.releaseClaim(claim).catch(() => {});
  }
  await checkStopped();
  const finished = outcomes.every((o) => o.status === 'done' || o.status === 'skipped');
  await recorder.setSweepStatus(spec.name, stopped ? 'cancelled' : finished ? 'done' : 'failed');
  return outcomes.sort((a, b) => a.trial.index - b.trial.index);
}

/**
 * The job of one trial of a sweep, with what each of its checkpoints' evaluations needs
 * (pix2pix: data, split, the trial's direction, metrics with `best` references resolved).
 */
export function buildTrialJob(
  spec: SweepSpec,
  trial: Pick<Trial, 'key' | 'parameters'>,
  at: {
    runId: number;
    runDir: string;
    label?: string;
    metrics: ResolvedMetric[];
    claim?: Claim;
  },
): TrialJob {
  const job: TrialJob = {
    kind: 'trial',
    sweep: spec.name,
    runId: at.runId,
    runKey: trial.key,
    spec,
    parameters: trial.parameters as Record<string, JsonValue>,
    runDir: at.runDir,
    ...(at.label !== undefined ? { label: at.label } : {}),
    ...(at.claim ? { claim: at.claim } : {}),
  };
  if (spec.trial !== 'identity' && spec.evaluate) {
    const e = spec.evaluate;
    job.evaluation = {
      data: spec.data,
      split: e.split,
      direction: toTrainConfig(spec, trial, at.runDir).direction ?? 'photo2sketch',
      ...(e.max_images !== undefined ? { max_images: e.max_images } : {}),
      metrics: at.metrics.map((m) => ({ ...m.spec, extractor: m.extractor })),
      ...(at.metrics.some((m) => m.artifact)
        ? {
            artifacts: Object.fromEntries(
              at.metrics
                .filter((m) => m.artifact)
                .map((m) => [
                  m.artifact!.uri,
                  { sha256: m.artifact!.sha256, bytes: m.artifact!.bytes },
                ]),
            ),
          }
        : {}),
    } as unknown as JsonValue;
  }
  return job;
}

/**
 * The trial job of a recorded run, rebuilt from its sweep's stored spec (to retry or requeue it
 * on a queue), `best` references resolved now; null when the stored spec is not a sweep file's.
 */
export async function rebuildTrialJob(
  storedSpec: unknown,
  run: { id: number; key: string; parameters: unknown; runDir: string | null },
  recorder: Pick<Recorder, 'getSweep' | 'best' | 'runEpochs'>,
): Promise<TrialJob | null> {
  const parsed = sweepSchema.safeParse(storedSpec);
  if (!parsed.success) return null;
  const spec = parsed.data;
  // Requeued on workers: a best checkpoint may be an artifact of their store.
  const metrics = await resolveMetrics(spec, recorder, { artifacts: true });
  return buildTrialJob(
    spec,
    { key: run.key, parameters: run.parameters as Trial['parameters'] },
    { runId: run.id, runDir: run.runDir ?? '', label: `run ${run.key}`, metrics },
  );
}

/**
 * What a sweep needs before any job is submitted, wherever its jobs run: its data (the synthetic
 * set generated on first use), its extractors, and its metrics with `best` references resolved.
 */
export async function prepareSweep(
  spec: SweepSpec,
  recorder: Pick<Recorder, 'getSweep' | 'best' | 'runEpochs'>,
  log: (line: string) => void,
): Promise<ResolvedMetric[]> {
  await ensureSweepInputs(spec, log);
  return resolveMetrics(spec, recorder);
}

/**
 * The part of `prepareSweep` that needs no other sweep: the data set (generated on first use)
 * and the extractors. A sweep queued later, once the sweeps it refers to have finished, does this
 * at submission so that a bad file fails at once.
 */
export async function ensureSweepInputs(
  spec: SweepSpec,
  log: (line: string) => void,
): Promise<void> {
  await ensureData(spec, log);
  checkExtractorsExist(spec);
}

/**
 * Where an extractor loads a referenced checkpoint from: a path as recorded, a `file://`
 * artifact (a shared-folder artifact store) as its path, and, where the jobs run on workers with
 * an artifact store (`artifacts`), an object-store URI as it is (each evaluator fetches it,
 * verified against the recorded sha256). In one process without a store such a URI is refused,
 * naming it.
 */
function checkpointOf(recorded: string, at: string, sweep: string, artifacts: boolean): string {
  if (recorded.startsWith('file://')) return fileURLToPath(recorded);
  if (isUri(recorded) && !artifacts)
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${at}: the best checkpoint of sweep '${sweep}' is ${recorded}, in an object store; a sweep run in one process loads it from a folder: run this sweep on workers that share that store (fidlab run --nats, fidlab worker --artifacts), or train that sweep with a shared folder as its artifact store`,
    );
  return recorded;
}

/**
 * A completed run's recorded epochs whose values (of this sweep's metrics) are of an older
 * evaluation protocol than EVALUATION_PROTOCOL: to evaluate again from their checkpoints.
 * Identity trials measure themselves while training: none.
 */
export async function outdatedEpochs(
  spec: SweepSpec,
  recorder: Pick<Recorder, 'runEpochs'>,
  runId: number,
): Promise<RecordedEpoch[]> {
  if (spec.trial === 'identity') return [];
  const rows = await recorder.runEpochs(runId);
  const stale = new Set(
    epochsToReevaluate(rows, { names: sweepValueNames(spec) }).map((e) => e.epoch),
  );
  return rows.filter((r) => stale.has(r.epoch));
}

/** The sweeps whose best checkpoints this sweep's metrics use (`extractor: { best: ... }`), once each. */
export function referencedSweeps(spec: SweepSpec): string[] {
  const names = new Set<string>();
  for (const m of spec.evaluate?.metrics ?? [])
    if (typeof m.extractor !== 'string') names.add(m.extractor.best.sweep);
  return [...names];
}

/** Generates the synthetic data set on first use when the sweep asks for it. */
async function ensureData(spec: SweepSpec, log: (line: string) => void): Promise<void> {
  if (existsSync(spec.data.root)) return;
  if (!spec.data.synth)
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `data.root: ${spec.data.root} does not exist (add data.synth to generate a synthetic set there)`,
    );
  const s = spec.data.synth;
  log(`generating the synthetic data set in ${spec.data.root}`);
  await synthDataset({
    out: spec.data.root,
    identities: s.identities,
    perIdentity: s.per_identity,
    size: s.size ?? spec.data.size,
    seed: s.seed,
    splitBy: 'image',
  });
}

export interface ResolveOptions {
  /**
   * The jobs run on workers that share an artifact store (`fidlab run --nats`, requeues): a
   * `best` checkpoint recorded as an object-store URI is used as it is. Default false (one
   * process, no store): such a checkpoint is refused.
   */
  artifacts?: boolean;
}

/**
 * Concrete extractor names for every metric. A `best` reference becomes the checkpoint that the
 * other sweep's metric selects now (among the runs matching `where`, when given), as
 * `generator:<checkpoint>:<tap>` or, when that sweep fine-tunes identity nets,
 * `identity:<checkpoint>:<layer>` (recorded with every value it produces).
 */
export async function resolveMetrics(
  spec: SweepSpec,
  recorder: Pick<Recorder, 'getSweep' | 'best' | 'runEpochs'>,
  opts: ResolveOptions = {},
): Promise<ResolvedMetric[]> {
  const out: ResolvedMetric[] = [];
  for (const [i, m] of (spec.evaluate?.metrics ?? []).entries()) {
    if (typeof m.extractor === 'string') {
      out.push({ spec: m, extractor: m.extractor });
      continue;
    }
    const ref = m.extractor.best;
    const at = formatPath(['evaluate', 'metrics', i, 'extractor', 'best']);
    const other = await recorder.getSweep(ref.sweep);
    if (!other)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${at}.sweep: no sweep named '${ref.sweep}' in the store (run it first)`,
      );
    const best = await recorder.best({
      sweep: ref.sweep,
      metric: ref.metric,
      goal: ref.goal,
      ...(ref.where ? { where: ref.where } : {}),
    });
    const which = ref.where ? ` among runs with ${JSON.stringify(ref.where)}` : '';
    if (best === null || best.checkpoint === null)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${at}.metric: sweep '${ref.sweep}' has no values of '${ref.metric}'${which} yet`,
      );
    const identity = (other.spec as { trial?: unknown } | null)?.trial === 'identity';
    if (identity && m.extractor.pool)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${formatPath(['evaluate', 'metrics', i, 'extractor', 'pool'])}: identity layers are not pooled`,
      );
    const pool = m.extractor.pool ? ':avg' : '';
    const checkpoint = checkpointOf(
      best.checkpoint,
      `${at}.sweep`,
      ref.sweep,
      opts.artifacts ?? false,
    );
    const extractor = `${identity ? 'identity' : 'generator'}:${checkpoint}:${m.extractor.tap}${pool}`;
    if (!isUri(checkpoint)) {
      out.push({ spec: m, extractor });
      continue;
    }
    // An artifact: its evaluators verify what they fetch against the sha256 recorded with it.
    const recorded = (await recorder.runEpochs(best.runId)).find((e) => e.epoch === best.epoch);
    if (!recorded?.checkpoint?.sha256)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${at}.sweep: the best checkpoint of sweep '${ref.sweep}' (${checkpoint}) has no recorded sha256 to verify it against`,
      );
    out.push({
      spec: m,
      extractor,
      artifact: {
        uri: checkpoint,
        sha256: recorded.checkpoint.sha256,
        bytes: recorded.checkpoint.bytes ?? 0,
      },
    });
  }
  return out;
}

/**
 * Fails before any training when a metric names an extractor this build does not have (a spec
 * that did not come through parseSweepText: the one name parser, @fidlab/features).
 */
function checkExtractorsExist(spec: SweepSpec): void {
  spec.evaluate?.metrics.forEach((m, i) => {
    if (typeof m.extractor !== 'string') return;
    const problem = extractorNameProblem(m.extractor);
    if (problem)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${formatPath(['evaluate', 'metrics', i, 'extractor'])}: ${problem}`,
      );
  });
}
