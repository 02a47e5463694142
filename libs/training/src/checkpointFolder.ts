// The checkpoint folder every trial kind writes (pix2pix trials: pix2pix/checkpoint.ts; identity
// trials: identity/identityCheckpoint.ts): RUN_DIR/checkpoints/epoch-NNNN/ holding the kind's
// files and, written last, its manifest, which records each file's sha256 and size. The folder
// is written with @fidlab/base's atomicWriteDir (a temporary `.tmp-epoch-NNNN-*` sibling, renamed
// into place), so a reader sees a complete checkpoint or none; a crash leaves the `.tmp-` folder,
// which `removeUnfinishedCheckpoints` deletes when the run is resumed. Older checkpoints can drop
// their resume-only files (`pruneCheckpointFiles`).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { atomicWrite, atomicWriteDir, removeTempSiblings, writeFileSynced } from '@fidlab/base';

/** RUN_DIR/checkpoints */
export const checkpointsDir = (runDir: string): string => join(runDir, 'checkpoints');
/** epoch-0001 */
export const epochDirName = (epoch: number): string => `epoch-${String(epoch).padStart(4, '0')}`;
const EPOCH_DIR = /^epoch-(\d+)$/;

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A file as written into a checkpoint folder. */
export interface WrittenFile {
  name: string;
  bytes: number;
  sha256: string;
}

/**
 * Writes checkpoint folder `dir` atomically: `files` in order, each hashed and flushed to disk,
 * then the manifest that `manifest.build` makes from their sizes and sha256 (so it is the last
 * file, and its presence means the rest are complete), then one rename. An existing `dir` (an
 * abandoned later epoch) is replaced. Returns the files and the manifest's bytes.
 */
export async function writeCheckpoint(
  dir: string,
  files: Array<[name: string, data: Uint8Array]>,
  manifest: { name: string; build(files: WrittenFile[]): string },
): Promise<{ dir: string; files: WrittenFile[]; manifest: Buffer }> {
  return atomicWriteDir(dir, async (tmp) => {
    const written: WrittenFile[] = [];
    for (const [name, data] of files) {
      await writeFileSynced(join(tmp, name), data);
      written.push({ name, bytes: data.length, sha256: sha256Hex(data) });
    }
    const text = Buffer.from(manifest.build(written), 'utf8');
    await writeFileSynced(join(tmp, manifest.name), text);
    return { dir, files: written, manifest: text };
  });
}

/**
 * Complete checkpoint folders of a run (those holding `manifestFile`), newest first; names only,
 * not verified.
 */
export async function listCheckpointFolders(
  runDir: string,
  manifestFile: string,
): Promise<{ epoch: number; dir: string }[]> {
  const root = checkpointsDir(runDir);
  if (!existsSync(root)) return [];
  return (await readdir(root))
    .map((n) => EPOCH_DIR.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ epoch: Number(m[1]), dir: join(root, m[0]) }))
    .filter((c) => existsSync(join(c.dir, manifestFile)))
    .sort((a, b) => b.epoch - a.epoch);
}

/**
 * Removes resume-only files from an older checkpoint, keeping its manifest (whose sha256 thus
 * stays valid). With `record`, a JSON file of that name listing what went is written first, so a
 * reader can tell pruned files from lost ones.
 */
export async function pruneCheckpointFiles(
  dir: string,
  names: string[],
  record?: string,
): Promise<void> {
  if (names.length === 0) return;
  if (record) {
    const text = JSON.stringify({ removed: names, at: new Date().toISOString() }) + '\n';
    await atomicWrite(join(dir, record), text);
  }
  for (const f of names) await rm(join(dir, basename(f)), { recursive: true, force: true });
}

/**
 * Deletes the temporary folders that crashed checkpoint writes left in RUN_DIR/checkpoints
 * (`.tmp-epoch-*`, and identity trials' older `epoch-NNNN.partial-*`); returns their names. For
 * the process that owns the run (resuming it): another writer's folder would go too.
 */
export async function removeUnfinishedCheckpoints(runDir: string): Promise<string[]> {
  const root = checkpointsDir(runDir);
  const removed = await removeTempSiblings(root, (n) => n.startsWith('epoch-'));
  if (!existsSync(root)) return removed;
  for (const n of (await readdir(root)).sort()) {
    if (!/^epoch-\d+\.partial-/.test(n)) continue;
    await rm(join(root, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}

/** `; removed N unfinished checkpoint write(s): NAMES` for a resume log line, or ''. */
export function describeRemoved(removed: string[]): string {
  if (removed.length === 0) return '';
  const n = removed.length;
  return `; removed ${n} unfinished checkpoint write${n === 1 ? '' : 's'} left by a crash: ${removed.join(', ')}`;
}
