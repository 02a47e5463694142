// PostgreSQL for tests: each suite gets its own database (created here, dropped after), so suites
// never see each other's rows. When no server answers, suites skip with one line of reason unless
// FIDLAB_REQUIRE_SERVICES=1, which turns that into a failure.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL =
  process.env.FIDLAB_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates a uniquely named database; returns a skip reason string when the server is absent. */
export async function createTestDatabase(prefix = 'fidlab_test'): Promise<TestDatabase | string> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    const reason = `PostgreSQL unreachable at ${PG_ADMIN_URL} (${(err as Error).message})`;
    if (process.env.FIDLAB_REQUIRE_SERVICES === '1') {
      throw new Error(`${reason} and FIDLAB_REQUIRE_SERVICES=1`);
    }
    return reason;
  }
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
