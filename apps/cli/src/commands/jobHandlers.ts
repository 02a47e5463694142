// The real job handlers of `fidlab worker`: the sweep engine's trial and evaluation jobs, as the
// in-process dispatcher runs them, adapted to the queue's rules: a failed trial is thrown (the
// worker retries it with backoff and dead-letters it at the end) instead of being final at once,
// and a trial stopped by the worker's signal is handed back.
import { join, resolve } from 'node:path';
import type { JobHandlers } from '@fidlab/bus';
import {
  EvaluatorCache,
  evaluationJobFor,
  evaluationRecorded,
  runEvaluationJob,
  runTrialJob,
  type CheckpointStore,
  type FeatureCache,
} from '@fidlab/experiments';

/**
 * `runsDir`: where this machine sees the shared runs directory, when not at the submitter's path
 * (a trial's folder becomes `<runsDir>/<sweep>/<run key>`). `shared` (with `--artifacts`): where
 * checkpoints and ground-truth features go between machines, instead of shared paths.
 */
export function jobHandlers(
  runsDir?: string,
  shared: { checkpoints?: CheckpointStore; featureCache?: FeatureCache } = {},
): JobHandlers & { dispose(): void } {
  // Decoded splits and ground-truth features, kept across this worker's evaluation jobs.
  const evaluators = new EvaluatorCache(shared.featureCache);
  const withShared = <C extends object>(ctx: C): C => ({ ...ctx, ...shared });
  return {
    async trial(job, ctx) {
      const r = await runTrialJob(
        runsDir ? { ...job, runDir: join(resolve(runsDir), job.sweep, job.runKey) } : job,
        withShared(ctx),
      );
      if (r.status === 'failed') throw new Error(r.error ?? 'trial failed');
      if (r.status === 'cancelled' && ctx.signal.aborted) return 'aborted';
      return 'completed';
    },
    evaluation: (job, ctx) => runEvaluationJob(job, withShared(ctx), evaluators),
    evaluationFor: (job, event, claim) => evaluationJobFor(job, event, claim),
    // With this, a worker of role `any` evaluates its own checkpoints at once (see JobHandlers).
    evaluated: (job, recorder) => evaluationRecorded(job, recorder),
    dispose: () => evaluators.dispose(),
  };
}
