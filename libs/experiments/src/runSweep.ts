import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Recorder } from './ports.js';
import { synthDataset } from '@fidlab/datasets';
import { extractorNameProblem } from '@fidlab/features';
import {
  checkpointEpoch,
  epochFromManifest,
  listCheckpoints,
  listIdentityCheckpoints,
  readIdentityManifest,
  train,
  trainIdentity,
  type CheckpointEpoch,
  type Direction,
  type EpochResult,
  type IdentityEpochResult,
} from '@fidlab/training';
import {
  EVALUATION_PROTOCOL,
  epochsToReevaluate,
  Evaluator,
  type ResolvedMetric,
} from './evaluateCheckpoint.js';
import { describeTrial, expandTrials, type Trial } from './expandTrials.js';
import { identityMetricValues } from './identityMetricValues.js';
import { metricValueNames, type MetricValue } from './metricValues.js';
import { formatPath, metricNames, type SweepSpec } from './sweepSpec.js';
import { toIdentityConfig, toTrainConfig } from './trialConfig.js';

export interface RunSweepOptions {
  store: Recorder;
  /** Run directories go to `<runsDir>/<sweep>/<trial key>`; default `.fidlab/runs`. */
  runsDir?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface TrialOutcome {
  trial: Trial;
  runId: number;
  /** done: trained (or, for a completed run, re-evaluated) now; skipped: nothing to do. */
  status: 'done' | 'failed' | 'cancelled' | 'skipped';
  error?: string;
}

/**
 * Runs a sweep in this process: every trial is trained with an evaluation after each `every`-th
 * epoch, everything written to the store. Re-running the same sweep resumes: completed trials are
 * skipped, unfinished ones continue from their last checkpoint, and epochs already evaluated are
 * not evaluated again (writes are idempotent anyway), unless their values are of an older
 * evaluation protocol (EVALUATION_PROTOCOL): those epochs, of completed trials too, are evaluated
 * again from their checkpoints and their values replaced, so that no curve mixes protocols.
 */
export async function runSweep(spec: SweepSpec, opts: RunSweepOptions): Promise<TrialOutcome[]> {
  const log = opts.log ?? (() => {});
  const store = opts.store;
  // Stops on the caller's signal or when the sweep is cancelled in the store (API, another CLI).
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) stop.abort();
  const checkCancelled = async () => {
    if ((await store.getSweep(spec.name))?.status === 'cancelled' && !stop.signal.aborted) {
      log(`sweep ${spec.name} was cancelled in the store: stopping`);
      stop.abort();
    }
  };
  const signal = stop.signal;
  const runsDir = resolve(opts.runsDir ?? '.fidlab/runs');
  await ensureData(spec, log);
  checkExtractorsExist(spec);
  const metrics = await resolveMetrics(spec, store);
  const sweep = await store.upsertSweep({ name: spec.name, spec, status: 'running' });
  const trials = expandTrials(spec);
  log(
    `sweep ${spec.name}: ${trials.length} ${spec.trial} trial(s), metrics ${metricNames(spec).join(', ')}`,
  );
  // One evaluator per direction (a sweep may sweep it): each keeps its decoded split and
  // ground-truth features across trials and epochs.
  const evaluators = new Map<Direction, Evaluator>();
  const evaluatorFor = (direction: Direction) => {
    let e = evaluators.get(direction);
    if (!e) {
      e = new Evaluator(spec.data, spec.evaluate!.split, direction, spec.evaluate!.max_images);
      evaluators.set(direction, e);
    }
    return e;
  };
  const outcomes: TrialOutcome[] = [];
  try {
    for (const trial of trials) {
      if (signal.aborted) break;
      const label = `trial ${trial.index + 1}/${trials.length} [${describeTrial(trial)}]`;
      const runDir = join(runsDir, spec.name, trial.key);
      const run = await store.upsertRun({
        sweepId: sweep.id,
        key: trial.key,
        parameters: trial.parameters,
        runDir,
      });
      // A completed generator trial is only evaluated again where its values are outdated; its
      // status stays done (training is complete whatever the evaluation does).
      let reevaluateOnly = false;
      if (run.status === 'done') {
        const stale =
          spec.trial === 'identity'
            ? []
            : epochsToReevaluate(await store.runEpochs(run.id), { names: valueNames(metrics) });
        if (stale.length === 0) {
          log(`${label}: already completed, skipped`);
          outcomes.push({ trial, runId: run.id, status: 'skipped' });
          continue;
        }
        log(
          `${label}: already completed; ${stale.length} epoch(s) have values of an older evaluation protocol than ${EVALUATION_PROTOCOL}: evaluating them again`,
        );
        reevaluateOnly = true;
      } else await store.setRunStatus(run.id, 'running');
      const ctx: TrialContext = {
        spec,
        trial,
        runId: run.id,
        runDir,
        label,
        store,
        log,
        signal,
        checkCancelled,
      };
      try {
        const status =
          spec.trial === 'identity'
            ? await runIdentityTrial(ctx)
            : await runPix2pixTrial(ctx, evaluatorFor, metrics, { train: !reevaluateOnly });
        if (status === 'aborted' || signal.aborted) {
          if (!reevaluateOnly) await store.setRunStatus(run.id, 'cancelled');
          outcomes.push({ trial, runId: run.id, status: 'cancelled' });
          break;
        }
        if (!reevaluateOnly) await store.setRunStatus(run.id, 'done');
        outcomes.push({ trial, runId: run.id, status: 'done' });
      } catch (e) {
        const message = (e as Error).message;
        if (!(reevaluateOnly && signal.aborted))
          await store.setRunStatus(run.id, signal.aborted ? 'cancelled' : 'failed', {
            error: message,
          });
        log(`${label}: failed: ${message}`);
        outcomes.push({ trial, runId: run.id, status: 'failed', error: message });
        if (signal.aborted) break;
      }
    }
  } finally {
    for (const e of evaluators.values()) e.dispose();
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const finished = outcomes.every((o) => o.status === 'done' || o.status === 'skipped');
  await store.setSweepStatus(
    spec.name,
    signal.aborted ? 'cancelled' : finished ? 'done' : 'failed',
  );
  return outcomes;
}

interface TrialContext {
  spec: SweepSpec;
  trial: Trial;
  runId: number;
  runDir: string;
  label: string;
  store: Recorder;
  log: (line: string) => void;
  signal: AbortSignal;
  /** Aborts `signal` when the sweep has been cancelled in the store. */
  checkCancelled: () => Promise<void>;
}

/** The names of every value the resolved metrics yield (rank-k: one per k). */
function valueNames(metrics: ResolvedMetric[]): string[] {
  return metrics.flatMap((m) => metricValueNames(m.spec));
}

/**
 * Trains a generator, evaluating every `every`-th epoch (and the last) with the sweep's metrics.
 * First evaluates, from their checkpoints, the epochs a previous process left unevaluated and
 * those whose values are of an older evaluation protocol; `train: false` stops there (a completed
 * trial whose values are outdated).
 */
async function runPix2pixTrial(
  { spec, trial, runId, runDir, label, store, log, signal, checkCancelled }: TrialContext,
  evaluatorFor: (direction: Direction) => Evaluator,
  metrics: ResolvedMetric[],
  opts: { train: boolean } = { train: true },
): Promise<'completed' | 'aborted'> {
  const every = spec.evaluate!;
  const config = toTrainConfig(spec, trial, runDir);
  const totalEpochs = (config.epochs ?? 100) + (config.epochs_decay ?? 0);
  const direction = config.direction ?? 'photo2sketch';
  const evaluator = evaluatorFor(direction);
  const rows = await store.runEpochs(runId);
  // Epoch -> the older protocols of its values: evaluated again whatever `every` says, since it
  // was evaluated before; its new values replace the old ones (same run, epoch and name).
  const stale = new Map(
    epochsToReevaluate(rows, { names: valueNames(metrics) }).map((s) => [s.epoch, s.protocols]),
  );
  const done = new Set(
    rows
      .filter((e) => Object.keys(e.metrics).length > 0 && !stale.has(e.epoch))
      .map((e) => e.epoch),
  );
  const recorded = new Set(rows.filter((e) => e.checkpoint !== null).map((e) => e.epoch));
  const due = (epoch: number) =>
    !done.has(epoch) && (stale.has(epoch) || epoch % every.every === 0 || epoch === totalEpochs);
  const evaluate = async (epoch: number, checkpointDir: string): Promise<boolean> => {
    if (!due(epoch)) return false;
    const old = stale.get(epoch);
    if (old)
      log(
        `${label} epoch ${epoch}: evaluating again (values of evaluation protocol ${old.join(', ')}, current ${EVALUATION_PROTOCOL})`,
      );
    const values = await evaluator.evaluate({
      checkpointDir,
      data: spec.data,
      split: every.split,
      direction,
      metrics,
      maxImages: every.max_images,
    });
    await store.recordMetrics(runId, epoch, values);
    done.add(epoch);
    stale.delete(epoch);
    log(`${label} epoch ${epoch}: ${summarise(values)}`);
    return true;
  };
  // A previous process may have died after an epoch's checkpoint was written but before its row
  // (losses, checkpoint) or its evaluation was recorded. train() resumes after the newest
  // checkpoint and never reports such an epoch again, so record it from the files now.
  for (const { epoch, dir } of (await listCheckpoints(runDir)).reverse()) {
    if (signal.aborted) return 'aborted';
    const needsEvaluation = due(epoch);
    if (recorded.has(epoch) && !needsEvaluation) continue;
    let e: CheckpointEpoch;
    try {
      e = await checkpointEpoch(dir);
    } catch (err) {
      // train() skips a damaged checkpoint too, and trains (and reports) that epoch again.
      log(`${label}: skipping damaged checkpoint ${dir}: ${(err as Error).message}`);
      continue;
    }
    if (!recorded.has(epoch)) {
      await store.recordEpoch(runId, {
        epoch,
        losses: e.losses,
        checkpoint: { uri: dir, sha256: e.sha256, bytes: e.bytes },
        seconds: e.seconds,
      });
      recorded.add(epoch);
      log(`${label} epoch ${epoch}: recorded from its checkpoint (the run stopped before it was)`);
    }
    if (await evaluate(epoch, dir)) await checkCancelled();
  }
  if (signal.aborted) return 'aborted';
  for (const [epoch, old] of stale) {
    // Deleted (or damaged) checkpoint: the old values stay, listed with their protocol.
    log(
      `${label} epoch ${epoch}: cannot evaluate again (no usable checkpoint in ${runDir}); its values stay of evaluation protocol ${old.join(', ')}`,
    );
  }
  if (!opts.train) return 'completed';
  log(`${label}: training in ${runDir}`);
  const result = await train(config, {
    signal,
    log: (line: string) => log(`${label} ${line}`),
    onEpoch: async (e: EpochResult) => {
      await store.recordEpoch(runId, {
        epoch: e.epoch,
        losses: e.losses,
        checkpoint: { uri: e.checkpointDir, sha256: e.sha256, bytes: e.bytes },
        seconds: e.seconds,
      });
      await evaluate(e.epoch, e.checkpointDir);
      await checkCancelled();
    },
  });
  return result.status;
}

/**
 * Fine-tunes an identity network; the trial measures itself (rank-k on its probe set, training
 * accuracy, loss) after every epoch. An unfinished trial resumes from its newest checkpoint
 * (weights, optimizer state, epoch), as generator trials do.
 */
async function runIdentityTrial({
  spec,
  trial,
  runId,
  runDir,
  label,
  store,
  log,
  signal,
  checkCancelled,
}: TrialContext): Promise<'completed' | 'aborted'> {
  const config = toIdentityConfig(spec, trial, runDir);
  const body = config.body?.kind ?? 'facerec';
  const record = async (e: IdentityEpochResult, seconds: number | null = e.seconds) => {
    await store.recordEpoch(runId, {
      epoch: e.epoch,
      losses: { loss: e.loss },
      checkpoint: e.checkpointDir
        ? { uri: e.checkpointDir, sha256: e.sha256, bytes: e.bytes }
        : null,
      seconds,
    });
    const values = identityMetricValues(e, config);
    await store.recordMetrics(runId, e.epoch, values);
    return values;
  };
  // A previous process may have died after a checkpoint was written but before its epoch was
  // recorded; the resumed trial starts after that checkpoint, so record it from its manifest.
  const recorded = new Set(
    (await store.runEpochs(runId)).filter((e) => e.checkpoint !== null).map((e) => e.epoch),
  );
  for (const { epoch, dir } of (await listIdentityCheckpoints(runDir)).reverse()) {
    if (recorded.has(epoch)) continue;
    let e: IdentityEpochResult;
    try {
      e = epochFromManifest(dir, await readIdentityManifest(dir));
    } catch (err) {
      log(`${label}: skipping damaged checkpoint ${dir}: ${(err as Error).message}`);
      continue;
    }
    const values = await record(e, null); // the manifest has no duration
    log(`${label} epoch ${epoch}: recorded from its checkpoint: ${summarise(values)}`);
  }
  log(`${label}: fine-tuning ${body} in ${runDir}`);
  const result = await trainIdentity(config, {
    signal,
    log: (line) => log(`${label} ${line}`),
    onEpoch: async (e) => {
      const values = await record(e);
      log(`${label} epoch ${e.epoch}: ${summarise(values)}`);
      await checkCancelled();
    },
  });
  return result.aborted ? 'aborted' : 'completed';
}

/** `fid_x=12.3 kid_x=0.0123`: the values of one epoch, short. */
function summarise(values: MetricValue[]): string {
  return values.map((v) => `${v.name}=${Number(v.value.toPrecision(4))}`).join(' ');
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

/**
 * Concrete extractor names for every metric. A `best` reference becomes the generator checkpoint
 * that the other sweep's metric selects now (recorded with every value it produces).
 */
export async function resolveMetrics(spec: SweepSpec, store: Recorder): Promise<ResolvedMetric[]> {
  const out: ResolvedMetric[] = [];
  for (const [i, m] of (spec.evaluate?.metrics ?? []).entries()) {
    if (typeof m.extractor === 'string') {
      out.push({ spec: m, extractor: m.extractor });
      continue;
    }
    const ref = m.extractor.best;
    const at = formatPath(['evaluate', 'metrics', i, 'extractor', 'best']);
    if (!(await store.getSweep(ref.sweep)))
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${at}.sweep: no sweep named '${ref.sweep}' in the store (run it first)`,
      );
    const best = await store.best({ sweep: ref.sweep, metric: ref.metric, goal: ref.goal });
    if (best === null || best.checkpoint === null)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${at}.metric: sweep '${ref.sweep}' has no values of '${ref.metric}' yet`,
      );
    const pool = m.extractor.pool ? ':avg' : '';
    out.push({ spec: m, extractor: `generator:${best.checkpoint}:${m.extractor.tap}${pool}` });
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
