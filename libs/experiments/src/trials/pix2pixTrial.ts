// Generator (pix2pix) trials: train, record each epoch, and hand every checkpoint that needs
// evaluation to a separate evaluation job (the `checkpoint` event) instead of evaluating here.
import { join } from 'node:path';
import {
  checkpointEpoch,
  checkpointsDir,
  epochDirName,
  listCheckpoints,
  train,
  type CheckpointEpoch,
  type EpochResult,
} from '@fidlab/training';
import { EVALUATION_PROTOCOL, epochsToReevaluate } from '../evaluateCheckpoint.js';
import { metricValueNames } from '../metricValues.js';
import type { CheckpointRef, JobContext, TrialJob } from '../ports.js';
import type { SweepSpec } from '../sweepSpec.js';
import { toTrainConfig } from '../trialConfig.js';
import type { TrialRun } from './common.js';

/** The names of every value a sweep's metrics yield (rank-k: one per k). */
export function sweepValueNames(spec: SweepSpec): string[] {
  return (spec.evaluate?.metrics ?? []).flatMap((m) => metricValueNames(m));
}

/**
 * Trains a generator; every `every`-th epoch (and the last) is due for evaluation: a `checkpoint`
 * event per due epoch, whose evaluation job records the values (in process it runs before
 * training continues). First records, from their checkpoints, the epochs a previous process left
 * unrecorded or unevaluated, and re-submits those whose values are of an older evaluation
 * protocol; `train: false` stops there (a completed trial whose values are outdated).
 */
export async function runPix2pixTrial(
  job: TrialJob,
  ctx: JobContext,
  { label, signal, checkCancelled }: TrialRun,
  opts: { train: boolean } = { train: true },
): Promise<'completed' | 'aborted'> {
  const { spec, runId, runDir } = job;
  const recorder = ctx.recorder;
  const log = ctx.log;
  const every = spec.evaluate!;
  const config = toTrainConfig(spec, { parameters: job.parameters as never }, runDir);
  const totalEpochs = (config.epochs ?? 100) + (config.epochs_decay ?? 0);
  const rows = await recorder.runEpochs(runId);
  // Epoch -> the older protocols of its values: evaluated again whatever `every` says, since it
  // was evaluated before; its new values replace the old ones (same run, epoch and name).
  const stale = new Map(
    epochsToReevaluate(rows, { names: sweepValueNames(spec) }).map((s) => [s.epoch, s.protocols]),
  );
  const done = new Set(
    rows
      .filter((e) => Object.keys(e.metrics).length > 0 && !stale.has(e.epoch))
      .map((e) => e.epoch),
  );
  const recorded = new Set(rows.filter((e) => e.checkpoint !== null).map((e) => e.epoch));
  const store = ctx.checkpoints;
  /** Epoch -> its recorded checkpoint, where that is an artifact of this worker's store. */
  const shared = new Map(
    rows.flatMap((e) =>
      e.checkpoint && store?.holds(e.checkpoint) ? [[e.epoch, e.checkpoint]] : [],
    ),
  );
  /** The ref to record for a local checkpoint: itself, or (with a store) its uploaded artifact. */
  const publish = async (epoch: number, local: CheckpointRef): Promise<CheckpointRef> =>
    store
      ? store.put(local.uri, { sweep: job.sweep, runKey: job.runKey, epoch, sha256: local.sha256! })
      : local;
  const due = (epoch: number) =>
    !done.has(epoch) && (stale.has(epoch) || epoch % every.every === 0 || epoch === totalEpochs);
  /** Hands a due epoch's checkpoint to its evaluation; false when the epoch is not due. */
  const evaluate = async (epoch: number, checkpoint: CheckpointRef): Promise<boolean> => {
    if (!due(epoch)) return false;
    const old = stale.get(epoch);
    if (old)
      log(
        `${label} epoch ${epoch}: evaluating again (values of evaluation protocol ${old.join(', ')}, current ${EVALUATION_PROTOCOL})`,
      );
    await ctx.emit({ type: 'checkpoint', sweep: job.sweep, runId, epoch, checkpoint });
    done.add(epoch);
    stale.delete(epoch);
    return true;
  };
  // Another machine may have trained this run's recorded epochs: train() resumes from the newest
  // checkpoint in runDir, so fetch the newest recorded one (verified) when runDir lacks it.
  const newest = Math.max(0, ...shared.keys());
  if (store && newest > 0 && !(await listCheckpoints(runDir)).some((c) => c.epoch === newest)) {
    const ref = shared.get(newest)!;
    await store.fetch(ref, join(checkpointsDir(runDir), epochDirName(newest)));
    ctx.heartbeat();
    log(`${label} epoch ${newest}: fetched its checkpoint from ${ref.uri} (sha256 verified)`);
  }
  const local = new Set<number>();
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
    local.add(epoch);
    let checkpoint: CheckpointRef = { uri: dir, sha256: e.sha256, bytes: e.bytes };
    if (store) checkpoint = shared.get(epoch) ?? (await publish(epoch, checkpoint));
    if (!recorded.has(epoch)) {
      await recorder.recordEpoch(
        runId,
        { epoch, losses: e.losses, checkpoint, seconds: e.seconds },
        ctx.claim,
      );
      recorded.add(epoch);
      log(`${label} epoch ${epoch}: recorded from its checkpoint (the run stopped before it was)`);
    }
    ctx.heartbeat();
    if (await evaluate(epoch, checkpoint)) await checkCancelled();
  }
  if (signal.aborted) return 'aborted';
  // Due epochs whose checkpoint is an artifact but not in runDir: evaluated from the store.
  for (const [epoch, ref] of [...shared].sort((a, b) => a[0] - b[0])) {
    if (local.has(epoch)) continue;
    if (await evaluate(epoch, ref)) await checkCancelled();
  }
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
    log: (line: string) => {
      ctx.heartbeat();
      log(`${label} ${line}`);
    },
    onEpoch: async (e: EpochResult) => {
      ctx.heartbeat();
      // Uploaded (with a store) before it is recorded: a recorded artifact always exists.
      const checkpoint = await publish(e.epoch, {
        uri: e.checkpointDir,
        sha256: e.sha256,
        bytes: e.bytes,
      });
      await recorder.recordEpoch(
        runId,
        { epoch: e.epoch, losses: e.losses, checkpoint, seconds: e.seconds },
        ctx.claim,
      );
      await evaluate(e.epoch, checkpoint);
      await checkCancelled();
    },
  });
  return result.status;
}
