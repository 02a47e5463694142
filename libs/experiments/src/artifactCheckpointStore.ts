// The CheckpointStore port over an artifact store (a shared folder or a NATS Object Store
// bucket): each checkpoint folder under `checkpoints/<sweep>/<run key>/epoch-NNNN-<sha>`, where
// <sha> starts the local checkpoint's own sha256, so that a stale writer of the same epoch (a
// worker that lost its lease) never overwrites the artifact its successor recorded.
import { ErrorCode, FidlabError, uriScheme, type ArtifactStore } from '@fidlab/base';
import { epochDirName } from '@fidlab/training';
import type { CheckpointPlace, CheckpointRef, CheckpointStore } from './ports.js';

export class ArtifactCheckpointStore implements CheckpointStore {
  /** `cacheDir`: a local folder for checkpoints fetched to be evaluated. */
  constructor(
    private readonly store: ArtifactStore,
    readonly cacheDir: string,
  ) {}

  /** `checkpoints/<sweep>/<run key>/epoch-NNNN-<first 12 hex of the local sha256>`. */
  static key(at: CheckpointPlace): string {
    return `checkpoints/${at.sweep}/${at.runKey}/${epochDirName(at.epoch)}-${at.sha256.slice(0, 12)}`;
  }

  async put(dir: string, at: CheckpointPlace): Promise<CheckpointRef> {
    const r = await this.store.putFolder(ArtifactCheckpointStore.key(at), dir);
    return { uri: r.uri, sha256: r.sha256, bytes: r.bytes };
  }

  holds(ref: CheckpointRef): boolean {
    // A plain path is never one of ours, even when the store is a folder: refs put here are URIs.
    return ref.uri.startsWith(this.store.backend.uri('')) && ref.uri.endsWith('/');
  }

  async fetch(ref: CheckpointRef, dest: string): Promise<void> {
    if (!this.holds(ref))
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `checkpoint ${ref.uri} is not in the artifact store ${this.store.backend.uri('')}`,
      );
    if (!ref.sha256 || typeof ref.bytes !== 'number')
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `checkpoint ${ref.uri}: no sha256 recorded to verify it against`,
      );
    await this.store.get({ uri: ref.uri, sha256: ref.sha256, bytes: ref.bytes }, dest);
  }

  /** Beside the checkpoint: `samples/<sweep>/<run key>/epoch-NNNN-<sha>/` for `checkpoints/...`. */
  async putSamples(dir: string, of: CheckpointRef): Promise<CheckpointRef> {
    const key = this.holds(of) ? this.store.backend.keyOf(of.uri) : null;
    if (!key?.startsWith('checkpoints/'))
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `checkpoint ${of.uri} is not a checkpoint of the artifact store ${this.store.backend.uri('')}`,
      );
    const r = await this.store.putFolder(`samples/${key.slice('checkpoints/'.length)}`, dir);
    return { uri: r.uri, sha256: r.sha256, bytes: r.bytes };
  }
}

/** A URI (`nats-obj://...`, `file://...`) rather than a filesystem path. */
export const isUri = (s: string): boolean => uriScheme(s) !== null;
