// How a failed command ends: one line on stderr and an exit code, never a stack trace for a
// user's mistake. UsageError -> 2; FidlabError and the file-system errors a user causes (a
// missing path, a folder for a file, no permission, a full disk) -> 1; anything else is a bug,
// still one line (FIDLAB_DEBUG=1 adds the stack).
import { isFidlabError } from '@fidlab/base';
import { UsageError, type Io } from './command.js';

/** What each errno a user can cause means, in words. */
const ERRNO: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a file is in the way where a folder was expected',
  EISDIR: 'is a folder, expected a file',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EBUSY: 'resource busy',
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  ETIMEDOUT: 'timed out',
};

/**
 * Makes a message safe for a terminal: control characters and undecodable bytes (a binary
 * file's header quoted in an error) become \xNN escapes, and a message is cut at 400 characters.
 */
export function printable(message: string, max = 400): string {
  let out = '';
  for (const ch of message) {
    const c = ch.codePointAt(0)!;
    if (c === 0x0a || c === 0x0d) out += ' ';
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0) || c === 0xfffd)
      out += c === 0xfffd ? '\\x??' : `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
    if (out.length > max) return out.slice(0, max) + '...';
  }
  return out;
}

/** A file-system error as "PATH: what happened" (null when it is not one). */
export function fsErrorLine(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException | null;
  if (!e || typeof e !== 'object' || typeof e.code !== 'string' || !(e.code in ERRNO)) return null;
  const what = ERRNO[e.code];
  const path = e.path ?? (e as { address?: string }).address;
  const target = (e as { dest?: string }).dest;
  if (path === undefined) return `${e.syscall ? `${e.syscall}: ` : ''}${what}`;
  return `${path}${target ? ` -> ${target}` : ''}: ${what}`;
}

/** Prints the one line for a failed command and returns its exit code. */
export function reportFailure(name: string, err: unknown, io: Io): number {
  if (err instanceof UsageError) {
    io.err(printable(`fidlab ${name}: ${err.message} (see fidlab ${name} --help)`));
    return 2;
  }
  if (isFidlabError(err) || (err instanceof Error && err.name === 'FidlabError')) {
    io.err(printable(`fidlab ${name}: error: ${(err as Error).message}`));
    return 1;
  }
  const fsLine = fsErrorLine(err);
  if (fsLine !== null) {
    io.err(printable(`fidlab ${name}: error: ${fsLine}`));
    return 1;
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  io.err(
    printable(
      `fidlab ${name}: internal error: ${message} (a bug: please report it with the command; FIDLAB_DEBUG=1 shows where)`,
    ),
  );
  if (process.env.FIDLAB_DEBUG && err instanceof Error && err.stack) io.err(err.stack);
  return 1;
}
