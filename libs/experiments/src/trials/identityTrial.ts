// Identity fine-tuning trials: the trial measures itself (rank-k on its probe set, training
// accuracy, loss) after every epoch, so it stays one job with no evaluation jobs.
import {
  epochFromManifest,
  listIdentityCheckpoints,
  readIdentityManifest,
  trainIdentity,
  type IdentityEpochResult,
} from '@fidlab/training';
import { identityMetricValues } from '../identityMetricValues.js';
import type { JobContext, TrialJob } from '../ports.js';
import { toIdentityConfig } from '../trialConfig.js';
import { summarise, type TrialRun } from './common.js';

/**
 * Fine-tunes an identity network, recording each epoch and its values under the job's claim. An
 * unfinished trial resumes from its newest checkpoint (weights, optimizer state, epoch), as
 * generator trials do.
 */
export async function runIdentityTrial(
  job: TrialJob,
  ctx: JobContext,
  { label, signal, checkCancelled }: TrialRun,
): Promise<'completed' | 'aborted'> {
  const { spec, runId, runDir } = job;
  const recorder = ctx.recorder;
  const log = ctx.log;
  const config = toIdentityConfig(spec, { parameters: job.parameters as never }, runDir);
  const body = config.body?.kind ?? 'facerec';
  const record = async (e: IdentityEpochResult, seconds: number | null = e.seconds) => {
    ctx.heartbeat();
    await recorder.recordEpoch(
      runId,
      {
        epoch: e.epoch,
        losses: { loss: e.loss },
        checkpoint: e.checkpointDir
          ? { uri: e.checkpointDir, sha256: e.sha256, bytes: e.bytes }
          : null,
        seconds,
      },
      ctx.claim,
    );
    const values = identityMetricValues(e, config);
    await recorder.recordMetrics(runId, e.epoch, values, ctx.claim);
    await ctx.emit({ type: 'metrics', sweep: job.sweep, runId, epoch: e.epoch, values });
    return values;
  };
  // A previous process may have died after a checkpoint was written but before its epoch was
  // recorded; the resumed trial starts after that checkpoint, so record it from its manifest.
  const recorded = new Set(
    (await recorder.runEpochs(runId)).filter((e) => e.checkpoint !== null).map((e) => e.epoch),
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
    log: (line) => {
      ctx.heartbeat();
      log(`${label} ${line}`);
    },
    onEpoch: async (e) => {
      const values = await record(e);
      log(`${label} epoch ${e.epoch}: ${summarise(values)}`);
      await checkCancelled();
    },
  });
  return result.aborted ? 'aborted' : 'completed';
}
