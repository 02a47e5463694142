// The one way fidlab replaces a file or a folder: write everything under a temporary sibling name
// (same folder, so the same filesystem), flush it to disk, then rename it into place. Readers see
// the old version or the whole new one, never a part; a failure removes the temporary, and a
// crash leaves only a `.tmp-*` name that `removeTempSiblings` cleans later.
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Every temporary name starts with this (a leading dot keeps it out of globs and listings). */
export const TEMP_PREFIX = '.tmp-';

/**
 * A temporary name beside `path` (same folder, so rename is atomic):
 * `DIR/.tmp-NAME-PID-RANDOM`.
 */
export function tempPath(path: string): string {
  return join(
    dirname(path),
    `${TEMP_PREFIX}${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Flushes a file or folder entry to disk (a folder's fsync makes a rename in it durable). */
async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some filesystems refuse fsync on a folder (EINVAL/EISDIR); the rename itself still holds.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  } finally {
    await fh.close();
  }
}

/**
 * Writes a file through `write(tmp)` under a temporary sibling name, then flushes and renames it
 * to `path`; on any error the temporary goes and `path` is untouched. For streamed writes
 * (downloads); `atomicWrite` is the one-buffer case.
 */
export async function atomicWriteWith<T>(
  path: string,
  write: (tmp: string) => Promise<T>,
): Promise<T> {
  const tmp = tempPath(path);
  try {
    const result = await write(tmp);
    await fsyncPath(tmp);
    await rename(tmp, path);
    await fsyncPath(dirname(path));
    return result;
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Writes `data` to `path` so that readers see the old file or the whole new one, never a part. */
export async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  await atomicWriteWith(path, async (tmp) => {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/**
 * Writes a whole folder atomically: `fill(tmp)` writes the files into a fresh temporary sibling
 * folder (use `writeFileSynced` so each is on disk), then the folder is renamed to `dir`,
 * replacing an existing one. A failure removes the temporary folder; a crash leaves it under a
 * `.tmp-` name for `removeTempSiblings`.
 */
export async function atomicWriteDir<T>(
  dir: string,
  fill: (tmp: string) => Promise<T>,
): Promise<T> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = tempPath(dir);
  await mkdir(tmp);
  try {
    const result = await fill(tmp);
    await fsyncPath(tmp);
    // Only a stale or abandoned copy can be in the way; it is replaced as a whole.
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    await fsyncPath(parent);
    return result;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes one file and flushes it to disk (for the files of an `atomicWriteDir` folder). */
export async function writeFileSynced(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Removes what crashed atomic writes left in `dir`: every `.tmp-*` entry whose target name
 * passes `match` (all by default). Returns the removed names. Call it only where no other
 * process writes into `dir` at the same time (e.g. a run folder its owner resumes).
 */
export async function removeTempSiblings(
  dir: string,
  match: (name: string) => boolean = () => true,
): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith(TEMP_PREFIX) || !match(name.slice(TEMP_PREFIX.length))) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
