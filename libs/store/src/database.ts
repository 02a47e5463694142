// Opens one of the two databases fidlab supports and hands back the same two things for both:
// a Prisma client (driver adapter) for queries, and a raw SQL executor for the migrator
// (migration scripts are multi-statement, which prepared statements cannot run).
import { mkdirSync } from 'node:fs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { resolve } from 'node:path';
import { damagedStore, isDataDir, manifestProblems, writeManifest } from './check.js';
import { lockStoreDir } from './lock.js';
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
  /** The embedded database itself (for its data-folder dump); absent for PostgreSQL. */
  readonly pglite?: PGlite;
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

/** A failed connection as one line naming the (masked) URL and the reason. */
function connectError(url: string, err: unknown): FidlabError {
  const e = err as { code?: string; message?: string; errors?: { message?: string }[] };
  const why = e.message || e.errors?.[0]?.message || e.code || String(err);
  return new FidlabError(
    ErrorCode.INVALID_CONFIG,
    `cannot connect to PostgreSQL at ${maskUrl(url)}: ${why.split('\n')[0]}`,
    { cause: err },
  );
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
      const client = await pool.connect().catch((err: unknown) => {
        throw connectError(url, err);
      });
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

async function openPglite(dir: string | undefined): Promise<Database> {
  let unlock = () => {};
  // A folder that already holds a database and then fails to start is damaged, not new.
  const existed = dir !== undefined && isDataDir(dir);
  if (dir !== undefined) {
    mkdirSync(dir, { recursive: true });
    unlock = lockStoreDir(dir);
  }
  let db: PGlite;
  try {
    db = dir === undefined ? new PGlite() : new PGlite(dir);
    await db.waitReady;
  } catch (err) {
    unlock();
    if (existed) {
      const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
      const why = /Aborted\(\)/.test(msg)
        ? 'PostgreSQL aborted while starting: its control file or write-ahead log is unreadable'
        : `PostgreSQL cannot start on it: ${msg}`;
      throw damagedStore(dir, why, err);
    }
    throw err;
  }
  const rawSql: RawSql = {
    exec: async (script) => {
      await db.exec(script);
    },
    query: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
  };
  if (existed) {
    const problems = await manifestProblems(rawSql, dir).catch((err: Error) => [
      `cannot read its catalog: ${err.message.split('\n')[0]}`,
    ]);
    if (problems.length > 0) {
      await db.close().catch(() => undefined);
      unlock();
      throw damagedStore(dir, problems.join('; '));
    }
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
  // PGlite is one connection: raw access runs between Prisma's queries, never inside them.
  return {
    kind: 'pglite',
    location: dir ?? 'memory:',
    prisma,
    pglite: db,
    async raw(fn) {
      return fn(rawSql);
    },
    async close() {
      try {
        await prisma.$disconnect();
        // The file sizes of a clean close: the next open compares (see check.ts).
        if (dir !== undefined) await writeManifest(rawSql, dir).catch(() => undefined);
        await db.close();
      } finally {
        unlock();
      }
    },
  };
}
