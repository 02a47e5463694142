// What an identity trial reports: per epoch, overall, and rebuilt from a checkpoint's manifest.
import type { IdentityCheckpointManifest } from './identityCheckpoint.js';

export interface IdentityEpochResult {
  epoch: number;
  /** Mean softmax cross-entropy over the epoch's batches. */
  loss: number;
  /** Share of training images classified correctly during the epoch. */
  trainAccuracy: number;
  /** rank[String(k)] for each eval k (fid-core's rankK). */
  rank: Record<string, number>;
  cmc: number[];
  /** null on epochs without a checkpoint (checkpointEvery). */
  checkpointDir: string | null;
  sha256: string | null;
  bytes: number;
  seconds: number;
}

export interface IdentityTrainResult {
  classes: string[];
  /**
   * Rank-k before this call's first epoch: of the pretrained body (epoch 0), or of the checkpoint
   * a resumed run continues from.
   */
  initial: { rank: Record<string, number>; cmc: number[] };
  /** The epochs this call ran (a resumed run: those after `resumedFrom`). */
  epochs: IdentityEpochResult[];
  /**
   * The checkpointed epoch with the best rank-1 (earliest on ties), or null when none was
   * written: rank-k exists to pick the checkpoint to use as a feature extractor. A resumed run
   * also weighs the earlier checkpoints (from their manifests: `cmc` empty, `seconds` 0).
   */
  best: IdentityEpochResult | null;
  /** The checkpoint epoch resumed from, or null for a fresh start. */
  resumedFrom: number | null;
  aborted: boolean;
}

export interface IdentityHooks {
  onEpoch?(e: IdentityEpochResult): Promise<void> | void;
  onBatch?(epoch: number, batch: number, batches: number): void;
  signal?: AbortSignal;
  log?(line: string): void;
}

/** `loss`, `trainAccuracy`, `rank<k>`: the metrics a checkpoint's manifest holds. */
export function epochFromManifest(dir: string, m: IdentityCheckpointManifest): IdentityEpochResult {
  const rank: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.metrics)) {
    const r = /^rank(\d+)$/.exec(k);
    if (r) rank[r[1]] = v;
  }
  return {
    epoch: m.epoch,
    loss: m.metrics.loss,
    trainAccuracy: m.metrics.trainAccuracy,
    rank,
    cmc: [],
    checkpointDir: dir,
    sha256: m.sha256,
    bytes: m.bytes,
    seconds: 0,
  };
}
