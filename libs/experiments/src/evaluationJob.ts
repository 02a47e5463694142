import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { Evaluator } from './evaluateCheckpoint.js';
import type { MetricValue } from './metricValues.js';
import { dataSpec, extractorNameProblem, formatPath, metricSpec } from './sweepSpec.js';

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
  metrics: z
    .array(
      metricSpec.refine((m) => typeof m.extractor === 'string', {
        message: 'a job names its extractor (resolve best references first)',
        path: ['extractor'],
      }),
    )
    .min(1),
});
export type EvaluationJob = z.infer<typeof evaluationJobSchema>;

/** Validates a job read from outside (JSON); errors name the field. */
export function parseEvaluationJob(input: unknown, file = 'job'): EvaluationJob {
  const r = evaluationJobSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${file}: ${formatPath(issue.path)}: ${issue.message}`,
    );
  }
  r.data.metrics.forEach((m, i) => {
    const problem = extractorNameProblem(m.extractor as string);
    if (problem)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${file}: ${formatPath(['metrics', i, 'extractor'])}: ${problem}`,
      );
  });
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
      metrics: job.metrics.map((spec) => ({ spec, extractor: spec.extractor as string })),
      maxImages: job.max_images,
      onProgress: opts.onProgress,
    });
  } finally {
    evaluator.dispose();
  }
}
