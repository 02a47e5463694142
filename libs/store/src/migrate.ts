// fidlab's own migrator: applies prisma/migrations/*/migration.sql in name order and records each
// in `_prisma_migrations` exactly as Prisma's schema engine does (same table, sha256 checksum of
// the file, started/finished timestamps, applied_steps_count 1), so that `prisma migrate deploy`
// and this migrator can take turns on one database. Used where Prisma's engine binary is missing.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { RawSql } from './database.js';

/** The same advisory lock id Prisma takes around migrations. */
const PRISMA_ADVISORY_LOCK = 72707369;

// Prisma's own DDL for the bookkeeping table (schema-engine, postgres flavour).
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

/** prisma/migrations at the workspace root (found from this module, in src/ or dist/). */
export function defaultMigrationsDir(): string {
  const env = process.env.FIDLAB_MIGRATIONS_DIR;
  if (env) return resolve(env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'prisma', 'migrations');
    if (existsSync(join(candidate, 'migration_lock.toml'))) return candidate;
    dir = dirname(dir);
  }
  throw new FidlabError(
    ErrorCode.FILE_NOT_FOUND,
    `prisma/migrations not found above ${fileURLToPath(import.meta.url)}; set FIDLAB_MIGRATIONS_DIR`,
  );
}

export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

export function readMigrations(dir = defaultMigrationsDir()): MigrationFile[] {
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory())
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: migrationChecksum(sql) };
    });
}

export interface AppliedMigration {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
}

/** Applies every migration not yet finished; returns the names applied now. */
export async function migrate(
  sql: RawSql,
  opts: { dir?: string; log?: (line: string) => void } = {},
): Promise<string[]> {
  const migrations = readMigrations(opts.dir);
  await sql.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
  try {
    await sql.exec(CREATE_MIGRATIONS_TABLE);
    const rows = await sql.query<AppliedMigration>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count FROM "_prisma_migrations" ORDER BY started_at',
    );
    const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `migration ${failed.migration_name} failed earlier and was not rolled back (see _prisma_migrations.logs); fix the database, then mark it rolled back`,
      );
    }
    const done = new Set(rows.filter((r) => r.finished_at !== null).map((r) => r.migration_name));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      const id = randomUUID();
      await sql.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
        [id, m.checksum, m.name],
      );
      try {
        await sql.exec(`BEGIN;\n${m.sql}\n;COMMIT;`);
      } catch (err) {
        await sql.exec('ROLLBACK').catch(() => undefined);
        const msg = err instanceof Error ? err.message : String(err);
        await sql.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, msg]);
        throw new FidlabError(ErrorCode.INVALID_CONFIG, `migration ${m.name} failed: ${msg}`, {
          cause: err,
        });
      }
      await sql.query(
        'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
        [id],
      );
      opts.log?.(`store: applied migration ${m.name}`);
      applied.push(m.name);
    }
    return applied;
  } finally {
    await sql.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]);
  }
}
