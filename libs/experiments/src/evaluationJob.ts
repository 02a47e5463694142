import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { cachedFolder, ErrorCode, FidlabError } from '@fidlab/base';
import { extractorName, METRIC_KIND_OPTIONS } from '@fidlab/features';
import { EVALUATION_PROTOCOL, Evaluator } from './evaluateCheckpoint.js';
import { metricValueNames, type MetricValue } from './metricValues.js';
import { isUri } from './artifactCheckpointStore.js';
import type {
  CheckpointEvaluationJob,
  CheckpointRef,
  FeatureCache,
  JobContext,
  JsonValue,
  Recorder,
  SweepEvent,
  TrialJob,
} from './ports.js';
import { dataSpec, describeIssue, formatPath, metricName } from './sweepSpec.js';

/** A job's metric: a sweep metric whose extractor is a name (the metric recipe's union). */
const jobMetric = z.discriminatedUnion('kind', [
  z.strictObject({ name: metricName, extractor: extractorName, ...METRIC_KIND_OPTIONS.fid }),
  z.strictObject({ name: metricName, extractor: extractorName, ...METRIC_KIND_OPTIONS.kid }),
  z.strictObject({
    name: metricName,
    extractor: extractorName,
    ...METRIC_KIND_OPTIONS['rank-k'],
  }),
]);

/**
 * One evaluation as a self-contained job (what a worker receives): a checkpoint, the data, and
 * metrics whose extractors are concrete names (a sweep's `best` references already resolved).
 */
export const evaluationJobSchema = z.strictObject({
  checkpoint: z.string().min(1),
  data: dataSpec,
  split: z.string().default('test'),
  direction: z.enum(['photo2sketch', 'sketch2sketch']).default('photo2sketch'),
  max_images: z.number().int().min(1).optional(),
  /** Extractors are names: a sweep's `best` references are resolved before a job is made. */
  metrics: z.array(jobMetric).min(1),
  /**
   * Extractor checkpoints that are artifact URIs (a `best` reference to a sweep whose checkpoints
   * are in an object store), with the sha256 and size recorded for each: the evaluator fetches
   * and verifies them.
   */
  artifacts: z
    .record(
      z.string().min(1),
      z.strictObject({
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        bytes: z.number().int().min(0),
      }),
    )
    .optional(),
});
export type EvaluationJob = z.infer<typeof evaluationJobSchema>;

/** Validates a job read from outside (JSON); errors name the field. */
export function parseEvaluationJob(input: unknown, file = 'job'): EvaluationJob {
  const r = evaluationJobSchema.safeParse(input, { reportInput: true });
  if (!r.success) {
    const { path, message } = describeIssue(r.error.issues[0]);
    throw new FidlabError(ErrorCode.INVALID_CONFIG, `${file}: ${formatPath(path)}: ${message}`);
  }
  return r.data;
}

/**
 * Evaluators kept between jobs of one process, by data set, split, direction and image cap: each
 * keeps the decoded split and the ground-truth features of every extractor it has used, so that
 * each further checkpoint only generates and extracts the generated side.
 */
export class EvaluatorCache {
  private readonly evaluators = new Map<string, Evaluator>();

  /** `featureCache`: where new evaluators share ground-truth features with other processes. */
  constructor(private readonly featureCache?: FeatureCache) {}

  get(job: EvaluationJob, featureCache = this.featureCache): Evaluator {
    const key = JSON.stringify([job.data, job.split, job.direction, job.max_images ?? null]);
    let e = this.evaluators.get(key);
    if (!e) {
      e = new Evaluator(job.data, job.split, job.direction, job.max_images, featureCache);
      this.evaluators.set(key, e);
    }
    return e;
  }

  dispose(): void {
    for (const e of this.evaluators.values()) e.dispose();
    this.evaluators.clear();
  }
}

/**
 * Computes one evaluation (generate the split with the checkpoint, extract, every metric), with
 * an evaluator from `cache` when given (kept), else a fresh one (disposed).
 */
export async function evaluateJob(
  job: EvaluationJob,
  opts: {
    onProgress?: (line: string) => void;
    cache?: EvaluatorCache;
    featureCache?: FeatureCache;
    /** A local folder for an extractor checkpoint named by an artifact URI (see artifacts). */
    resolveCheckpoint?: (uri: string) => Promise<string>;
  } = {},
): Promise<MetricValue[]> {
  const evaluator =
    opts.cache?.get(job, opts.featureCache) ??
    new Evaluator(job.data, job.split, job.direction, job.max_images, opts.featureCache);
  try {
    return await evaluator.evaluate({
      checkpointDir: job.checkpoint,
      data: job.data,
      split: job.split,
      direction: job.direction,
      metrics: job.metrics.map((spec) => ({ spec, extractor: spec.extractor })),
      maxImages: job.max_images,
      onProgress: opts.onProgress,
      resolveCheckpoint: opts.resolveCheckpoint,
    });
  } finally {
    if (!opts.cache) evaluator.dispose();
  }
}

/**
 * True when every value the evaluation job yields is recorded for its epoch under the current
 * evaluation protocol: a worker that measured its own checkpoint already did this job (the
 * older-protocol re-evaluations, whose values are of another protocol, are never skipped).
 */
export async function evaluationRecorded(
  job: CheckpointEvaluationJob,
  recorder: Pick<Recorder, 'runEpochs'>,
): Promise<boolean> {
  const evaluation = parseEvaluationJob(
    { ...(job.evaluation as object), checkpoint: job.checkpoint.uri },
    `evaluation job of run ${job.runKey} epoch ${job.epoch}`,
  );
  const row = (await recorder.runEpochs(job.runId)).find((e) => e.epoch === job.epoch);
  if (!row) return false;
  return evaluation.metrics
    .flatMap((m) => metricValueNames(m))
    .every((n) => n in row.metrics && row.protocols[n] === EVALUATION_PROTOCOL);
}

/** `fid_x=12.3 kid_x=0.0123`: the values of one epoch, short. */
function summarise(values: { name: string; value: number }[]): string {
  return values.map((v) => `${v.name}=${Number(v.value.toPrecision(4))}`).join(' ');
}

/**
 * The evaluation job handler (a worker entry point): evaluates the job's checkpoint, records the
 * values under the trial's claim (`ctx.claim ?? job.claim`), logs them in one line and emits a
 * `metrics` event. Returns the values. `cache` keeps evaluators across the jobs of a process.
 */
export async function runEvaluationJob(
  job: CheckpointEvaluationJob,
  ctx: JobContext,
  cache?: EvaluatorCache,
): Promise<MetricValue[]> {
  const what = `evaluation job of run ${job.runKey} epoch ${job.epoch}`;
  const evaluation = parseEvaluationJob(
    { ...(job.evaluation as object), checkpoint: job.checkpoint.uri },
    what,
  );
  ctx.heartbeat();
  let samples: CheckpointRef | null = null;
  const values = await withLocalCheckpoint(job.checkpoint, ctx, what, async (dir, fetched) => {
    const v = await evaluateJob(
      { ...evaluation, checkpoint: dir },
      {
        cache,
        featureCache: ctx.featureCache,
        onProgress: () => ctx.heartbeat(),
        resolveCheckpoint: (uri) =>
          referencedCheckpoint(uri, evaluation.artifacts?.[uri], ctx, what),
      },
    );
    // A fetched copy is removed afterwards: its samples go to the artifact store, for the
    // dashboard. They are not worth failing (and redoing) the evaluation for.
    if (fetched && ctx.recorder.recordSamples && existsSync(join(dir, 'samples')))
      samples = await ctx
        .checkpoints!.putSamples(join(dir, 'samples'), job.checkpoint)
        .catch((e: Error) => {
          ctx.log(`${what}: sample images not kept: ${e.message}`);
          return null;
        });
    return v;
  });
  await ctx.recorder.recordMetrics(job.runId, job.epoch, values, ctx.claim ?? job.claim);
  if (samples)
    await ctx.recorder.recordSamples!(job.runId, job.epoch, samples, ctx.claim ?? job.claim);
  ctx.log(`${job.label ?? `run ${job.runKey}`} epoch ${job.epoch}: ${summarise(values)}`);
  await ctx.emit({
    type: 'metrics',
    sweep: job.sweep,
    runId: job.runId,
    epoch: job.epoch,
    values: values.map((v) => ({ name: v.name, value: v.value })),
  });
  return values;
}

/**
 * A local folder holding an extractor's checkpoint named by an artifact URI (a `best` reference
 * to an object-store sweep): fetched from `ctx.checkpoints` into `<cacheDir>/referenced/<sha256>`
 * and verified against the sha256 the job carries, once per process and kept (the metrics of a
 * sweep use the same checkpoint at every epoch).
 */
async function referencedCheckpoint(
  uri: string,
  recorded: { sha256: string; bytes: number } | undefined,
  ctx: JobContext,
  what: string,
): Promise<string> {
  const store = ctx.checkpoints;
  if (!recorded)
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what}: extractor checkpoint ${uri} is an artifact, but the job carries no sha256 for it`,
    );
  if (!store?.holds({ uri }))
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what}: extractor checkpoint ${uri} is an artifact ${store ? "of another store than this worker's" : 'but this worker has no artifact store'} (give the worker --artifacts with that sweep's store)`,
    );
  // Kept under its sha256 (workers of one machine may share the runs dir: see cachedFolder).
  return cachedFolder(join(store.cacheDir, 'referenced', recorded.sha256), async (tmp) => {
    ctx.log(`${what}: fetching extractor checkpoint ${uri}`);
    await store.fetch({ uri, sha256: recorded.sha256, bytes: recorded.bytes }, tmp);
  });
}

/**
 * Runs `f` on a local folder holding the checkpoint: its path when the ref is one, else a copy
 * fetched from `ctx.checkpoints` (sha256 verified: a corrupted artifact is refused with
 * ARTIFACT_MISMATCH before anything is evaluated), removed afterwards.
 */
async function withLocalCheckpoint<T>(
  ref: CheckpointRef,
  ctx: JobContext,
  what: string,
  f: (dir: string, fetched: boolean) => Promise<T>,
): Promise<T> {
  const store = ctx.checkpoints;
  if (!store?.holds(ref)) {
    if (isUri(ref.uri))
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${what}: checkpoint ${ref.uri} is an artifact ${store ? "of another store than this worker's" : 'but this worker has no artifact store'} (give the worker --artifacts with the trainers' store)`,
      );
    return f(ref.uri, false);
  }
  const dir = join(store.cacheDir, `evaluate-${randomUUID()}`);
  try {
    ctx.heartbeat();
    await store.fetch(ref, dir);
    ctx.heartbeat();
    return await f(dir, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The evaluation job of a trial's `checkpoint` event: whoever runs the trial submits it (the
 * in-process dispatcher runs it at once; a worker queues it). Null for trials that measure
 * themselves (no `evaluation` in the job).
 */
export function evaluationJobFor(
  trial: TrialJob,
  event: Extract<SweepEvent, { type: 'checkpoint' }>,
  claim = trial.claim,
): CheckpointEvaluationJob | null {
  if (trial.evaluation === undefined) return null;
  return {
    kind: 'evaluation',
    sweep: trial.sweep,
    runId: trial.runId,
    runKey: trial.runKey,
    epoch: event.epoch,
    checkpoint: event.checkpoint,
    evaluation: trial.evaluation as JsonValue,
    ...(trial.label !== undefined ? { label: trial.label } : {}),
    ...(claim !== undefined ? { claim } : {}),
  };
}
