// Fake job handlers: trials that "train" by sleeping, for the scale simulation and the worker's
// own tests. They follow the real handlers' contract: resume after the last epoch recorded in
// the store, record each epoch under the claim, emit its checkpoint, heartbeat while working,
// stop on the signal. Parameters (all optional): epochs (2), ms (per epoch, 50), fail (a job that
// always throws: "poison"), fail_while (a path: throws while that file exists).
import { existsSync } from 'node:fs';
import type {
  CheckpointEvaluationJob,
  Claim,
  JobContext,
  SweepEvent,
  TrialJob,
} from '@fidlab/experiments';
import type { JobHandlers } from './worker.js';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);

export async function fakeTrial(
  job: TrialJob,
  ctx: JobContext,
  defaultMs = 50,
): Promise<'completed' | 'aborted'> {
  const p = job.parameters;
  if (p.fail) throw new Error(`poison trial ${job.runKey}: ${String(p.fail)}`);
  if (typeof p.fail_while === 'string' && existsSync(p.fail_while))
    throw new Error(`poison trial ${job.runKey}: ${p.fail_while} exists`);
  const epochs = num(p.epochs, 2);
  const ms = num(p.ms, defaultMs);
  await ctx.recorder.setRunStatus(job.runId, 'running', { claim: ctx.claim });
  const done = await ctx.recorder.runEpochs(job.runId);
  const start = done.length ? Math.max(...done.map((e) => e.epoch)) + 1 : 1;
  if (start > 1) ctx.log(`fake trial ${job.runKey}: resuming after epoch ${start - 1}`);
  // As the real trial does: checkpoints a previous holder left unevaluated are evaluated first.
  for (const e of done)
    if (Object.keys(e.metrics).length === 0 && e.checkpoint)
      await ctx.emit({
        type: 'checkpoint',
        sweep: job.sweep,
        runId: job.runId,
        epoch: e.epoch,
        checkpoint: e.checkpoint,
      });
  for (let epoch = start; epoch <= epochs; epoch++) {
    // Work in slices, reporting progress like a training step loop does.
    for (let t = 0; t < ms; t += 100) {
      await sleep(Math.min(100, ms - t), ctx.signal);
      if (ctx.signal.aborted) return 'aborted';
      ctx.heartbeat();
    }
    const checkpoint = { uri: `${job.runDir}/epoch-${epoch}` };
    await ctx.recorder.recordEpoch(
      job.runId,
      { epoch, losses: { fake: 1 / epoch }, checkpoint, seconds: ms / 1000 },
      ctx.claim,
    );
    await ctx.emit({
      type: 'log',
      sweep: job.sweep,
      runId: job.runId,
      line: `epoch ${epoch} trained and recorded`,
    });
    await ctx.emit({ type: 'checkpoint', sweep: job.sweep, runId: job.runId, epoch, checkpoint });
  }
  await ctx.recorder.setRunStatus(job.runId, 'done', { claim: ctx.claim });
  await ctx.emit({ type: 'trial-finished', sweep: job.sweep, runId: job.runId, status: 'done' });
  return 'completed';
}

export async function fakeEvaluation(job: CheckpointEvaluationJob, ctx: JobContext): Promise<void> {
  const ms = num((job.evaluation as { ms?: unknown } | null)?.ms, 20);
  await sleep(ms, ctx.signal);
  const value = 100 / job.epoch + (job.runId % 7);
  await ctx.recorder.recordMetrics(
    job.runId,
    job.epoch,
    [{ name: 'fake_fid', value, extra: { protocol: 2 } }],
    ctx.claim ?? job.claim,
  );
  await ctx.emit({
    type: 'metrics',
    sweep: job.sweep,
    runId: job.runId,
    epoch: job.epoch,
    values: [{ name: 'fake_fid', value }],
  });
}

/** Fake handlers; `evaluate: true` queues an evaluation job per checkpoint. */
export function fakeHandlers(
  opts: { evaluate?: boolean; evalMs?: number; epochMs?: number } = {},
): JobHandlers {
  return {
    trial: (job, ctx) => fakeTrial(job, ctx, opts.epochMs),
    evaluation: fakeEvaluation,
    evaluationFor: opts.evaluate
      ? (job: TrialJob, e: Extract<SweepEvent, { type: 'checkpoint' }>, claim?: Claim) => ({
          kind: 'evaluation',
          sweep: job.sweep,
          runId: job.runId,
          runKey: job.runKey,
          epoch: e.epoch,
          checkpoint: e.checkpoint,
          evaluation: { ms: opts.evalMs ?? 20 },
          ...(claim ? { claim } : {}),
        })
      : undefined,
  };
}
