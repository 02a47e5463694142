// Identity fine-tuning trials: the trial measures itself (rank-k on its probe set, training
// accuracy, loss) after every epoch, so it stays one job with no evaluation jobs.
import { join } from 'node:path';
import {
  checkpointsDir,
  epochDirName,
  epochFromManifest,
  listIdentityCheckpoints,
  readIdentityManifest,
  trainIdentity,
  type IdentityEpochResult,
} from '@fidlab/training';
import { identityMetricValues } from '../identityMetricValues.js';
import type { CheckpointRef, JobContext, TrialJob } from '../ports.js';
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
  const store = ctx.checkpoints;
  /** The ref to record: the local folder, or (with an artifact store) its uploaded artifact. */
  const checkpointRef = async (e: IdentityEpochResult): Promise<CheckpointRef | null> => {
    if (!e.checkpointDir) return null;
    const local = { uri: e.checkpointDir, sha256: e.sha256, bytes: e.bytes };
    if (!store || !e.sha256) return local;
    const at = { sweep: job.sweep, runKey: job.runKey, epoch: e.epoch, sha256: e.sha256 };
    return store.put(e.checkpointDir, at);
  };
  const record = async (e: IdentityEpochResult, seconds: number | null = e.seconds) => {
    ctx.heartbeat();
    await recorder.recordEpoch(
      runId,
      { epoch: e.epoch, losses: { loss: e.loss }, checkpoint: await checkpointRef(e), seconds },
      ctx.claim,
    );
    const values = identityMetricValues(e, config);
    await recorder.recordMetrics(runId, e.epoch, values, ctx.claim);
    await ctx.emit({ type: 'metrics', sweep: job.sweep, runId, epoch: e.epoch, values });
    return values;
  };
  // A previous process may have died after a checkpoint was written but before its epoch was
  // recorded; the resumed trial starts after that checkpoint, so record it from its manifest.
  const rows = (await recorder.runEpochs(runId)).filter((e) => e.checkpoint !== null);
  const recorded = new Set(rows.map((e) => e.epoch));
  // Another machine may have trained the recorded epochs: trainIdentity resumes from the newest
  // checkpoint in runDir, so fetch the newest recorded artifact (verified) when runDir lacks it.
  const newest = rows.reduce<(typeof rows)[number] | null>(
    (a, e) => (a === null || e.epoch > a.epoch ? e : a),
    null,
  );
  if (
    store &&
    newest?.checkpoint &&
    store.holds(newest.checkpoint) &&
    !(await listIdentityCheckpoints(runDir)).some((c) => c.epoch === newest.epoch)
  ) {
    await store.fetch(newest.checkpoint, join(checkpointsDir(runDir), epochDirName(newest.epoch)));
    ctx.heartbeat();
    log(
      `${label} epoch ${newest.epoch}: fetched its checkpoint from ${newest.checkpoint.uri} (sha256 verified)`,
    );
  }
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
