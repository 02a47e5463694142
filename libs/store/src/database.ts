// Opens one of the two databases fidlab supports and hands back the same two things for both:
// a Prisma client (driver adapter) for queries, and a raw SQL executor for the migrator
// (migration scripts are multi-statement, which prepared statements cannot run).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from './generated/prisma/client.js';

export type DatabaseKind = 'postgres' | 'pglite';

/** Minimal raw access used by the migrator. */
export interface RawSql {
  /** Runs a (possibly multi-statement) script with no parameters. */
  exec(script: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Database {
  readonly kind: DatabaseKind;
  /** Where it lives: the URL with any password masked, or the PGlite directory. */
  readonly location: string;
  readonly prisma: PrismaClient;
  /** A raw connection held for the caller's exclusive use (migrations); release with `done`. */
  raw<T>(fn: (sql: RawSql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export const DEFAULT_DB_DIR = '.fidlab/db';

export interface DatabaseOptions {
  /** postgres://... for PostgreSQL; `pglite:DIR` or `memory:` for embedded PGlite. */
  url?: string;
  /** PGlite data directory (default .fidlab/db); ignored when a PostgreSQL url is given. */
  dir?: string;
}

/** Resolves options (and DATABASE_URL) to a PostgreSQL URL or a PGlite directory. */
export function resolveTarget(
  opts: DatabaseOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): { kind: 'postgres'; url: string } | { kind: 'pglite'; dir: string | undefined } {
  const url = opts.url ?? (opts.dir === undefined ? env.DATABASE_URL || undefined : undefined);
  if (url !== undefined) {
    if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
    if (url === 'memory:' || url === 'memory://') return { kind: 'pglite', dir: undefined };
    if (url.startsWith('pglite:')) return { kind: 'pglite', dir: resolve(url.slice(7)) };
    if (url.startsWith('file:')) return { kind: 'pglite', dir: resolve(url.slice(5)) };
    return { kind: 'pglite', dir: resolve(url) };
  }
  return { kind: 'pglite', dir: resolve(opts.dir ?? DEFAULT_DB_DIR) };
}

export function maskUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

export async function openDatabase(opts: DatabaseOptions = {}): Promise<Database> {
  const target = resolveTarget(opts);
  if (target.kind === 'postgres') return openPostgres(target.url);
  return openPglite(target.dir);
}

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle connection dropped by the server (restart, admin) must not crash the process; the
  // pool replaces it on next use.
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    kind: 'postgres',
    location: maskUrl(url),
    prisma,
    async raw(fn) {
      const client = await pool.connect();
      try {
        return await fn({
          exec: async (script) => {
            await client.query(script);
          },
          query: async <T>(sql: string, params?: unknown[]) =>
            (await client.query(sql, params)).rows as T[],
        });
      } finally {
        client.release();
      }
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

// PGlite is PostgreSQL in this process's memory writing straight to its files: two instances on
// one directory (two processes, or one process twice) would corrupt it. A pid lock file refuses
// the second opener with advice instead.
const openDirs = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockDir(dir: string): () => void {
  const lock = join(dir, 'fidlab.lock');
  const inUse = (who: string) =>
    new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `the embedded database ${dir} is in use by ${who}; PGlite allows one opener at a time: ` +
        'stop it, query it through its server (--server URL), or use PostgreSQL (--db postgres://...)',
    );
  if (openDirs.has(dir)) throw inUse('this process (opened twice)');
  let pid = NaN;
  try {
    pid = Number(readFileSync(lock, 'utf8').trim());
  } catch {
    // no lock file
  }
  if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) throw inUse(`process ${pid}`);
  writeFileSync(lock, String(process.pid));
  openDirs.add(dir);
  return () => {
    openDirs.delete(dir);
    rmSync(lock, { force: true });
  };
}

async function openPglite(dir: string | undefined): Promise<Database> {
  let unlock = () => {};
  if (dir !== undefined) {
    mkdirSync(dir, { recursive: true });
    unlock = lockDir(dir);
  }
  let db: PGlite;
  try {
    db = dir === undefined ? new PGlite() : new PGlite(dir);
    await db.waitReady;
  } catch (err) {
    unlock();
    throw err;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
  // PGlite is one connection: raw access runs between Prisma's queries, never inside them.
  return {
    kind: 'pglite',
    location: dir ?? 'memory:',
    prisma,
    async raw(fn) {
      return fn({
        exec: async (script) => {
          await db.exec(script);
        },
        query: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
      });
    },
    async close() {
      try {
        await prisma.$disconnect();
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
