// The trial job handler: one entry point for every trial kind, in process (`fidlab run`) or on a
// worker. It moves the run's status under the job's claim and reports `trial-finished`.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { JobContext, SweepEvent, TrialJob } from '../ports.js';
import { stopWhenCancelled, type TrialRun } from './common.js';
import { runIdentityTrial } from './identityTrial.js';
import { runPix2pixTrial } from './pix2pixTrial.js';

export type TrialFinished = Extract<SweepEvent, { type: 'trial-finished' }>;

/**
 * Runs one trial job: trains (resuming from the run's recorded checkpoints), records every epoch
 * under `ctx.claim ?? job.claim`, emits `checkpoint` for each epoch to evaluate (pix2pix), and
 * ends with a `trial-finished` event, which it also returns. A run already `done` is only
 * evaluated again where its values are of an older evaluation protocol; its status stays done.
 * Failures of the trial are reported (status failed, the error recorded), not thrown.
 */
export async function runTrialJob(job: TrialJob, ctx: JobContext): Promise<TrialFinished> {
  const recorder = ctx.recorder;
  const claim = ctx.claim ?? job.claim;
  const label = job.label ?? `run ${job.runKey}`;
  const run = await recorder.getRun(job.runId);
  if (!run) throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${job.runId}`);
  const reevaluateOnly = run.status === 'done';
  if (!reevaluateOnly) await recorder.setRunStatus(job.runId, 'running', { claim });
  const stop = stopWhenCancelled(ctx, job.sweep);
  const trial: TrialRun = { label, signal: stop.signal, checkCancelled: stop.check };
  const jobCtx: JobContext = { ...ctx, claim };
  const finish = async (
    status: TrialFinished['status'],
    error?: string,
  ): Promise<TrialFinished> => {
    const event: TrialFinished = {
      type: 'trial-finished',
      sweep: job.sweep,
      runId: job.runId,
      status,
      ...(error !== undefined ? { error } : {}),
    };
    await ctx.emit(event);
    return event;
  };
  try {
    const status =
      job.spec.trial === 'identity'
        ? await runIdentityTrial(job, jobCtx, trial)
        : await runPix2pixTrial(job, jobCtx, trial, { train: !reevaluateOnly });
    if (status === 'aborted' || stop.signal.aborted) {
      if (!reevaluateOnly) await recorder.setRunStatus(job.runId, 'cancelled', { claim });
      return await finish('cancelled');
    }
    if (!reevaluateOnly) await recorder.setRunStatus(job.runId, 'done', { claim });
    return await finish('done');
  } catch (e) {
    const message = (e as Error).message;
    if (!(reevaluateOnly && stop.signal.aborted))
      await recorder.setRunStatus(job.runId, stop.signal.aborted ? 'cancelled' : 'failed', {
        error: message,
        claim,
      });
    ctx.log(`${label}: failed: ${message}`);
    return await finish('failed', message);
  } finally {
    stop.dispose();
  }
}
