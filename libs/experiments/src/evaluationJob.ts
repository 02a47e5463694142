import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { extractorName, METRIC_KIND_OPTIONS } from '@fidlab/features';
import { Evaluator } from './evaluateCheckpoint.js';
import type { MetricValue } from './metricValues.js';
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

/** Runs one job: generate the split with the checkpoint, extract, compute every metric. */
export async function runEvaluationJob(
  job: EvaluationJob,
  opts: { onProgress?: (line: string) => void } = {},
): Promise<MetricValue[]> {
  const evaluator = new Evaluator(job.data, job.split, job.direction, job.max_images);
  try {
    return await evaluator.evaluate({
      checkpointDir: job.checkpoint,
      data: job.data,
      split: job.split,
      direction: job.direction,
      metrics: job.metrics.map((spec) => ({ spec, extractor: spec.extractor })),
      maxImages: job.max_images,
      onProgress: opts.onProgress,
    });
  } finally {
    evaluator.dispose();
  }
}
