// Jobs as they arrive from outside (a file, a queue message): validated into TrialJob /
// CheckpointEvaluationJob before a handler runs them. Errors name the file and the field.
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Job } from './ports.js';
import { formatPath, sweepSchema } from './sweepSpec.js';

const json: z.ZodType<unknown> = z.json();
const claim = z.strictObject({
  runId: z.number().int().positive(),
  workerId: z.string().min(1),
  generation: z.number().int().min(0),
});
const checkpoint = z.strictObject({
  uri: z.string().min(1),
  sha256: z.string().nullish(),
  bytes: z.number().int().min(0).nullish(),
});
const common = {
  sweep: z.string().min(1),
  runId: z.number().int().positive(),
  runKey: z.string().min(1),
  label: z.string().optional(),
  claim: claim.optional(),
};

export const jobSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('trial'),
    ...common,
    spec: sweepSchema,
    parameters: z.record(z.string(), json),
    runDir: z.string().min(1),
    evaluation: json.optional(),
  }),
  z.strictObject({
    kind: z.literal('evaluation'),
    ...common,
    epoch: z.number().int().min(0),
    checkpoint,
    evaluation: json,
  }),
]);

/** Validates a job read from outside (JSON); the error names `where` and the field. */
export function parseJob(input: unknown, where = 'job'): Job {
  const r = jobSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${where}: ${formatPath(issue.path)}: ${issue.message}`,
    );
  }
  return r.data as Job;
}
