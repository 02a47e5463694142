// `fidlab store check|backup|restore` for both databases.
// - Embedded (PGlite): a backup is PGlite's own dump of the data folder (a .tar.gz, taken while
//   the store is locked, so it is consistent); restore moves the current folder aside (never
//   deleted) and loads the dump into a new one, then checks it.
// - PostgreSQL: the standard tools apply: pg_dump --format=custom to back up, pg_restore
//   --clean --if-exists --single-transaction to restore, run here when they are on PATH (they
//   must be the server's major version or newer); otherwise the error says what to install.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { atomicWrite, ErrorCode, FidlabError } from '@fidlab/base';
import { deepCheck, isDataDir, MANIFEST_FILE, writeManifest, type CheckReport } from './check.js';
import {
  maskUrl,
  openDatabase,
  resolveTarget,
  type DatabaseOptions,
  type RawSql,
} from './database.js';
import { LOCK_FILE, lockStoreDir } from './lock.js';

export interface StoreCheckResult extends CheckReport {
  kind: 'postgres' | 'pglite';
  location: string;
}

/** Opens the store (which already refuses a damaged embedded store) and reads every table. */
export async function checkStore(opts: DatabaseOptions): Promise<StoreCheckResult> {
  const db = await openDatabase(opts);
  try {
    const report = await db.raw((sql) => deepCheck(sql));
    return { ...report, kind: db.kind, location: db.location };
  } finally {
    await db.close();
  }
}

function head(file: string, n: number): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const b = new Uint8Array(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** What a backup file is: an embedded-store dump (gzip), a pg_dump archive, or neither. */
export function backupKind(file: string): 'pglite' | 'pg_dump' | 'other' {
  const h = head(file, 5);
  if (h[0] === 0x1f && h[1] === 0x8b) return 'pglite';
  if (String.fromCharCode(...h) === 'PGDMP') return 'pg_dump';
  return 'other';
}

function tool(name: string): string | null {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function runTool(name: string, args: string[], url: string): void {
  const r = spawnSync(name, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr || '').trim().split('\n')[0];
    throw new FidlabError(ErrorCode.INVALID_INPUT, `${name} failed on ${maskUrl(url)}: ${why}`);
  }
}

function needTool(name: string): void {
  if (tool(name) === null) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `${name} is not on PATH: a PostgreSQL store is backed up and restored with the standard tools pg_dump and pg_restore ` +
        "(install the PostgreSQL client tools, the server's major version or newer, e.g. apt-get install postgresql-client)",
    );
  }
}

export interface BackupResult {
  kind: 'postgres' | 'pglite';
  location: string;
  file: string;
  bytes: number;
  /** How it was made: "pg_dump --format=custom" or "PGlite dumpDataDir". */
  method: string;
}

/** Backs the store up into `file` (written atomically). */
export async function backupStore(opts: DatabaseOptions, file: string): Promise<BackupResult> {
  const target = resolveTarget(opts);
  if (target.kind === 'postgres') {
    needTool('pg_dump');
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      runTool('pg_dump', ['--format=custom', '--no-owner', '--file', tmp, target.url], target.url);
      renameSync(tmp, file);
    } finally {
      rmSync(tmp, { force: true });
    }
    return {
      kind: 'postgres',
      location: maskUrl(target.url),
      file,
      bytes: statSync(file).size,
      method: 'pg_dump --format=custom',
    };
  }
  if (target.dir === undefined) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      'an in-memory store (memory:) has nothing to back up',
    );
  }
  const dir = target.dir;
  if (!isDataDir(dir))
    throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${dir}: no embedded store there`);
  // Open through openDatabase first: a damaged store is refused, not backed up.
  const db = await openDatabase({ url: `pglite:${dir}` });
  let dump: Blob;
  try {
    const pglite = db.pglite;
    if (!pglite) throw new Error('embedded store without a PGlite instance');
    dump = await pglite.dumpDataDir('gzip');
  } finally {
    await db.close();
  }
  const bytes = new Uint8Array(await dump.arrayBuffer());
  await atomicWrite(file, bytes);
  return {
    kind: 'pglite',
    location: dir,
    file,
    bytes: bytes.length,
    method: 'PGlite dumpDataDir (.tar.gz of the data folder)',
  };
}

export interface RestoreResult {
  kind: 'postgres' | 'pglite';
  location: string;
  /** Where the embedded store that was replaced now is (kept, not deleted). */
  movedAside?: string;
  method: string;
  check: CheckReport;
}

/** Replaces the store's contents with the backup in `file`, then checks the result. */
export async function restoreStore(opts: DatabaseOptions, file: string): Promise<RestoreResult> {
  if (!existsSync(file)) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${file}: no such file`);
  if (statSync(file).isDirectory()) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, `${file}: is a folder, expected a backup file`);
  }
  const kind = backupKind(file);
  const target = resolveTarget(opts);
  if (target.kind === 'postgres') {
    if (kind !== 'pg_dump') {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        kind === 'pglite'
          ? `${file}: is an embedded-store backup; restore it into an embedded store (--db pglite:DIR)`
          : `${file}: not a pg_dump archive (custom format, made by fidlab store backup or pg_dump --format=custom)`,
      );
    }
    needTool('pg_restore');
    runTool(
      'pg_restore',
      [
        '--clean',
        '--if-exists',
        '--no-owner',
        '--single-transaction',
        '--dbname',
        target.url,
        file,
      ],
      target.url,
    );
    const check = await checkStore({ url: target.url });
    return {
      kind: 'postgres',
      location: maskUrl(target.url),
      method: 'pg_restore --clean --if-exists --single-transaction',
      check,
    };
  }
  if (target.dir === undefined) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      'cannot restore into an in-memory store (memory:)',
    );
  }
  if (kind !== 'pglite') {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      kind === 'pg_dump'
        ? `${file}: is a pg_dump archive (a PostgreSQL backup); restore it with --db postgres://... (pg_restore)`
        : `${file}: not an embedded-store backup (a .tar.gz made by fidlab store backup)`,
    );
  }
  const dir = target.dir;
  const data = new Blob([readFileSync(file)]);
  let movedAside: string | undefined;
  if (existsSync(dir)) {
    // Taking the lock proves no process uses the store; the folder is kept under a new name.
    const release = lockStoreDir(dir);
    movedAside = `${dir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      renameSync(dir, movedAside);
    } finally {
      release();
    }
    rmSync(join(movedAside, LOCK_FILE), { force: true });
  }
  mkdirSync(dirname(dir), { recursive: true });
  mkdirSync(dir);
  const release = lockStoreDir(dir);
  let check: CheckReport;
  try {
    const pglite = new PGlite(dir, { loadDataDir: data });
    try {
      await pglite.waitReady;
    } catch (err) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${file}: the backup does not start as a database (${(err as Error).message.split('\n')[0]})`,
        { cause: err },
      );
    }
    const sql: RawSql = {
      exec: async (s) => {
        await pglite.exec(s);
      },
      query: async <T>(s: string, params?: unknown[]) => (await pglite.query<T>(s, params)).rows,
    };
    // The dump carries the source's lock and manifest: ours replace them.
    rmSync(join(dir, MANIFEST_FILE), { force: true });
    check = await deepCheck(sql);
    await writeManifest(sql, dir);
    await pglite.close();
  } finally {
    release();
    // A lock file copied from the source folder is not ours: never leave it behind.
    rmSync(join(dir, LOCK_FILE), { force: true });
  }
  return { kind: 'pglite', location: dir, movedAside, method: 'PGlite loadDataDir', check };
}
