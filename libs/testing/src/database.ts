// Databases for tests: each suite gets its own (a fresh PostgreSQL database, created here and
// dropped after, or a fresh embedded PGlite folder), so suites never see each other's rows. When
// no PostgreSQL server answers, the helper returns a one-line skip reason, unless
// FIDLAB_REQUIRE_SERVICES=1, which turns that into a failure.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { skipOrFail } from './services.js';

export const PG_ADMIN_URL =
  process.env.FIDLAB_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  kind: 'postgres' | 'pglite';
  /** What `openStore({ url })` and `fidlab --db` take: `postgresql://...` or `pglite:<dir>`. */
  url: string;
  /** Removes the database (PostgreSQL: DROP DATABASE ... WITH (FORCE); PGlite: its folder). */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** postgres (default): a new database on the test server; pglite: a new embedded folder. */
  kind?: 'postgres' | 'pglite';
  /** Database-name / folder prefix, to tell suites apart in a listing. */
  prefix?: string;
}

/** Creates a uniquely named database; returns a skip reason string when the server is absent. */
export async function createTestDatabase(
  opts: TestDatabaseOptions = {},
): Promise<TestDatabase | string> {
  const prefix = opts.prefix ?? 'fidlab_test';
  if (opts.kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    return {
      kind: 'pglite',
      url: `pglite:${join(dir, 'db')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    return skipOrFail(`PostgreSQL unreachable at ${PG_ADMIN_URL} (${(err as Error).message})`);
  }
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
