// `--checkpoint` given as an artifact URI (what `fidlab best` prints for a sweep whose workers
// shared checkpoints through `--artifacts`): a `file://` folder is read where it is; a
// `nats-obj://` one is fetched into a temporary folder and verified against the sha256 the store
// recorded for that URI (so `--db` names the sweep's store and `--nats` its broker).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, FidlabError, uriScheme } from '@fidlab/base';
import type { BusFlags } from '@fidlab/bus/flags';
import { UsageError } from '../command.js';
import { openRecorderStore } from './busCommon.js';

/** A local checkpoint folder and how to let it go (removes a fetched copy). */
export interface LocalCheckpoint {
  dir: string;
  release(): void;
}

/** True when `--checkpoint` is a URI rather than a path. */
export const isCheckpointUri = (s: string): boolean => uriScheme(s) !== null;

export async function localCheckpoint(
  uri: string,
  values: BusFlags & { db?: string },
  log: (line: string) => void,
): Promise<LocalCheckpoint> {
  const scheme = uriScheme(uri);
  if (scheme === 'file') return { dir: fileURLToPath(uri), release: () => {} };
  if (scheme !== 'nats-obj')
    throw new UsageError(`--checkpoint ${uri}: only file:// and nats-obj:// URIs are read`);
  const bucket = /^nats-obj:\/\/([^/]+)\//i.exec(uri)?.[1];
  if (!bucket) throw new UsageError(`--checkpoint ${uri}: no bucket in the URI`);
  const { store, close } = await openRecorderStore(values.db);
  let ref;
  try {
    ref = await store.checkpointByUri(uri);
  } finally {
    await close();
  }
  if (!ref?.sha256)
    throw new FidlabError(
      ErrorCode.NOT_FOUND,
      `--checkpoint ${uri}: no checkpoint with this URI (and a sha256) is recorded in the store`,
    );
  const bus = await import('@fidlab/bus');
  const opts = bus.resolveBusOptions(values);
  if (!opts) throw new UsageError(`--checkpoint ${uri}: --nats URL is required to read it`);
  const nc = await bus.connectBus({ ...opts, name: 'fidlab checkpoint fetch' });
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-checkpoint-'));
  try {
    const { openArtifactRoot } = await import('@fidlab/artifacts-nats');
    const artifacts = await openArtifactRoot(`nats-obj://${bucket}`, nc);
    log(`fetching ${uri} (${ref.bytes ?? '?'} bytes, sha256 verified)`);
    await artifacts.get({ uri, sha256: ref.sha256, bytes: ref.bytes ?? 0 }, join(dir, 'ckpt'));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    await nc.close().catch(() => {});
  }
  return {
    dir: join(dir, 'ckpt'),
    release: () => rmSync(dir, { recursive: true, force: true }),
  };
}
