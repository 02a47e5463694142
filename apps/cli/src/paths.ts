// Checks of the paths a command reads and writes, made before any work starts, so that an hour of
// feature extraction is never lost to a typo in --out; and a result writer that keeps a rescue
// copy when the write fails anyway (disk full, permissions changed meanwhile).
import { accessSync, constants, statSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { atomicWrite, ErrorCode, FidlabError } from '@fidlab/base';
import { fsErrorLine } from './failure.js';

function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const label = (what: string, path: string) => (what ? `${what} ${path}` : path);

/** An existing regular file (or a link to one); `what` names the role, e.g. "--weights". */
export function requireInputFile(path: string, what = '', expected = 'a file'): void {
  const s = stat(path);
  if (!s) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${label(what, path)}: no such file`);
  if (s.isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: is a folder, expected ${expected}`,
    );
  }
}

/** An existing folder. */
export function requireInputFolder(path: string, what = '', expected = 'a folder'): void {
  const s = stat(path);
  if (!s) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${label(what, path)}: no such folder`);
  if (!s.isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: is a file, expected ${expected}`,
    );
  }
}

/**
 * A file the command will write: not a folder, in an existing writable folder, and (if it
 * exists) writable. Checked before the work, so a bad --out costs nothing.
 */
export function requireOutputFile(path: string, what = '--out', example = 'out'): void {
  const s = stat(path);
  if (s?.isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: is a folder; give a file name (e.g. ${join(path, example)})`,
    );
  }
  const dir = dirname(resolve(path));
  const d = stat(dir);
  if (!d) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `${label(what, path)}: folder ${dirname(path)} does not exist (create it first)`,
    );
  }
  if (!d.isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: ${dirname(path)} is a file, not a folder`,
    );
  }
  if (!writable(dir) || (s && !canWriteFile(path))) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: cannot write there (permission denied)`,
    );
  }
}

function canWriteFile(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A folder the command will create or fill: an existing folder, or a missing one whose nearest
 * existing ancestor is a writable folder (no file in the way).
 */
export function requireOutputFolder(path: string, what = '--out'): void {
  let p = resolve(path);
  let s = stat(p);
  if (s && !s.isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: is a file, expected a folder`,
    );
  }
  while (!s) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
    s = stat(p);
  }
  if (s && !s.isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: cannot create it, ${p} is a file`,
    );
  }
  if (!writable(p)) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: cannot write in ${p} (permission denied)`,
    );
  }
}

/**
 * Writes a computed result atomically. If that fails after the checks (disk full, permissions
 * changed), the bytes go to a rescue file in the temp folder and the error names both, so the
 * work is not lost.
 */
export async function writeResult(
  path: string,
  data: Uint8Array | string,
  what = '--out',
): Promise<void> {
  try {
    await atomicWrite(path, data);
  } catch (err) {
    const rescue = join(tmpdir(), `fidlab-rescued-${process.pid}-${basename(path)}`);
    let saved = false;
    try {
      writeFileSync(rescue, data);
      saved = true;
    } catch {
      // nowhere to put it either: say so
    }
    const why = fsErrorLine(err) ?? (err as Error).message;
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${label(what, path)}: write failed (${why}); ` +
        (saved ? `the result was saved to ${rescue}` : 'the result could not be saved anywhere'),
      { cause: err },
    );
  }
}
