// The embedded store's lock: PGlite is PostgreSQL inside one process writing straight to its
// files, so two openers on one folder would corrupt it. The lock file is created exclusively
// (hard-linked into place complete, or O_CREAT | O_EXCL: of racing openers exactly one
// succeeds) and holds the owner's pid, host and start time; a lock whose process is gone (same host) is stale and taken over, under a
// second exclusive file so that two processes cannot both take over the same stale lock.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FidlabError } from '@fidlab/base';

export const LOCK_FILE = 'fidlab.lock';

/** Folders this process holds (a second open in one process is refused too). */
const heldHere = new Set<string>();

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(lock: string): LockOwner | null {
  let text: string;
  try {
    text = readFileSync(lock, 'utf8').trim();
  } catch {
    return null;
  }
  // Empty: being written by an exclusive create (no hard links there); read it again.
  if (text === '') return null;
  // Older versions wrote the bare pid.
  if (/^\d+$/.test(text)) return { pid: Number(text), host: hostname(), since: '?' };
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number')
      return { pid: o.pid, host: o.host ?? '?', since: o.since ?? '?' };
  } catch {
    // unreadable: treated as a lock of unknown owner
  }
  return { pid: NaN, host: '?', since: '?' };
}

/**
 * Creates `path` holding `content` only if it does not exist, atomically and complete: the
 * content is written to a private file first and hard-linked into place (link fails with EEXIST
 * when the lock exists), so a racing reader never sees an empty lock. Filesystems without hard
 * links fall back to an exclusive create (O_EXCL).
 */
function createExclusive(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, content);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function inUse(dir: string, lock: string, who: string): FidlabError {
  return new FidlabError(
    ErrorCode.INVALID_CONFIG,
    `the embedded database ${dir} is in use by ${who} (lock file ${lock}); PGlite allows one opener at a time: ` +
      'stop it, query it through its server (--server URL), or use PostgreSQL (--db postgres://...)',
  );
}

/**
 * Takes the lock on `dir` or throws naming the lock file and its owner. Returns the release
 * function. `log` hears about a stale lock taken over.
 */
export function lockStoreDir(dir: string, log?: (line: string) => void): () => void {
  const lock = join(dir, LOCK_FILE);
  if (heldHere.has(dir)) throw inUse(dir, lock, 'this process (opened twice)');
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const content = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(lock, content)) {
      heldHere.add(dir);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldHere.delete(dir);
        // Only our own lock is removed (a takeover may have replaced a lock we lost).
        const owner = readOwner(lock);
        if (owner?.pid === me.pid && owner.since === me.since) rmSync(lock, { force: true });
      };
    }
    const owner = readOwner(lock);
    if (owner === null) continue; // removed meanwhile: try again
    const sameHost = owner.host === me.host;
    if (!Number.isInteger(owner.pid)) {
      throw inUse(
        dir,
        lock,
        'an unknown process (the lock file is unreadable; remove it if no fidlab process uses the store)',
      );
    }
    if (owner.pid === process.pid && sameHost) {
      // Our own pid but not held: left by this process before (released without removal). Stale.
    } else if (!sameHost) {
      throw inUse(dir, lock, `process ${owner.pid} on host ${owner.host} (since ${owner.since})`);
    } else if (alive(owner.pid)) {
      throw inUse(dir, lock, `process ${owner.pid} (since ${owner.since})`);
    }
    // Stale: its process is gone. Take it over under an exclusive takeover file.
    const takeover = lock + '.takeover';
    if (!createExclusive(takeover, content)) {
      throw inUse(dir, lock, 'another process taking over a stale lock (try again)');
    }
    try {
      const again = readOwner(lock);
      if (again && again.pid === owner.pid && again.since === owner.since) {
        rmSync(lock, { force: true });
        log?.(`store: removed a stale lock ${lock} (process ${owner.pid} is gone)`);
      }
    } finally {
      rmSync(takeover, { force: true });
    }
  }
  throw inUse(dir, lock, 'another process (the lock kept changing)');
}
