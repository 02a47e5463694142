// schema.prisma and prisma/migrations agree, and fidlab's migrator interoperates with Prisma's
// own engine (the wasm build of it): either can apply first, the other then finds nothing to do.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultMigrationsDir,
  migrate,
  openStore,
  readMigrations,
  type DatabaseKind,
} from '../src/index.js';
import { createTestDatabase } from '@fidlab/testing';
import { migrationList, migrationsToSchemaSql, NO_FILTERS, schemaEngine } from './schemaEngine.js';

const pgliteRaw = (db: PGlite) => ({
  exec: async (s: string) => {
    await db.exec(s);
  },
  query: async <T>(s: string, p?: unknown[]) => (await db.query<T>(s, p)).rows,
});

describe('migrations', () => {
  it('schema.prisma and prisma/migrations agree (schema-engine diff is empty)', async () => {
    const sql = await migrationsToSchemaSql(new PrismaPGlite(new PGlite()));
    assert.equal(sql.trim(), '-- This is an empty migration.');
  });

  it('records each migration as Prisma does (sha256 checksum of migration.sql)', async () => {
    const db = new PGlite();
    const applied = await migrate(pgliteRaw(db));
    const files = readMigrations();
    assert.deepEqual(
      applied,
      files.map((f) => f.name),
    );
    const first = files[0];
    const bytes = readFileSync(join(defaultMigrationsDir(), first.name, 'migration.sql'));
    assert.equal(first.checksum, createHash('sha256').update(bytes).digest('hex'));
    const rows = (
      await db.query<{
        migration_name: string;
        checksum: string;
        finished_at: Date | null;
        applied_steps_count: number;
      }>('SELECT * FROM _prisma_migrations ORDER BY migration_name')
    ).rows;
    assert.deepEqual(
      rows.map((r) => [
        r.migration_name,
        r.checksum,
        r.finished_at !== null,
        r.applied_steps_count,
      ]),
      files.map((f) => [f.name, f.checksum, true, 1]),
    );
    assert.deepEqual(await migrate(pgliteRaw(db)), [], 'second run applies nothing');
    await db.close();
  });

  it('Prisma engine finds nothing to apply after fidlab migrated (PGlite)', async () => {
    const db = new PGlite();
    await migrate(pgliteRaw(db));
    const engine = await schemaEngine(new PrismaPGlite(db));
    const diag = await engine.diagnoseMigrationHistory({
      migrationsList: migrationList(),
      optInToShadowDatabase: false,
      filters: NO_FILTERS,
    });
    assert.equal(diag.history, null, `history diagnostic: ${JSON.stringify(diag.history)}`);
    assert.deepEqual(diag.editedMigrationNames, []);
    assert.deepEqual(diag.failedMigrationNames, []);
    const out = await engine.applyMigrations({
      migrationsList: migrationList(),
      filters: NO_FILTERS,
    });
    assert.deepEqual(out.appliedMigrationNames, []);
    engine.free();
    await db.close();
  });

  it('fidlab finds nothing to apply after the Prisma engine migrated (PGlite)', async () => {
    const db = new PGlite();
    const engine = await schemaEngine(new PrismaPGlite(db));
    const out = await engine.applyMigrations({
      migrationsList: migrationList(),
      filters: NO_FILTERS,
    });
    assert.deepEqual(
      out.appliedMigrationNames,
      readMigrations().map((m) => m.name),
    );
    engine.free();
    assert.deepEqual(await migrate(pgliteRaw(db)), []);
    await db.close();
  });

  it('run_best protocols are backfilled from the values already stored (PGlite)', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'fidlab-migr-backfill-'));
    try {
      // A database at the init migration, with values written as the store then did.
      const oldDir = join(tmp, 'migrations');
      const src = defaultMigrationsDir();
      cpSync(join(src, 'migration_lock.toml'), join(oldDir, 'migration_lock.toml'));
      const init = '20261128140000_init';
      cpSync(join(src, init), join(oldDir, init), { recursive: true });
      const dbDir = join(tmp, 'db');
      const db = new PGlite(dbDir);
      assert.deepEqual(await migrate(pgliteRaw(db), { dir: oldDir }), [init]);
      await db.exec(`
        INSERT INTO sweeps (id, name, spec, updated_at) VALUES (1, 'old', '{}', now());
        INSERT INTO runs (id, sweep_id, key, parameters, updated_at)
          VALUES (1, 1, 'a', '{}', now()), (2, 1, 'b', '{}', now());
        INSERT INTO metric_values (run_id, epoch, name, value, extra) VALUES
          (1, 1, 'fid', 10, NULL), (1, 2, 'fid', 9, '{"protocol": 3}'),
          (1, 3, 'fid', 8, '{"protocol": 2}'), (1, 1, 'kid', 1, '{"protocol": 2}'),
          (1, 2, 'kid', 2, '{"protocol": "v2"}'), (2, 1, 'fid', 7, '{"protocol": 2.5}');
        INSERT INTO run_best (run_id, name, min_value, min_epoch, max_value, max_epoch,
            last_value, last_epoch, count, updated_at)
          SELECT run_id, name, min(value), 1, max(value), 1, 0, max(epoch), count(*), now()
          FROM metric_values GROUP BY run_id, name;
      `);
      await db.close();
      const store = await openStore({ dir: dbDir });
      try {
        const runs = await store.listRuns({ sweep: 'old' });
        assert.deepEqual(
          runs.map((r) => [r.key, r.protocols, r.lastProtocol]),
          [
            ['a', { fid: [1, 2, 3], kid: [1, 2] }, { fid: 2, kid: 1 }],
            ['b', { fid: [1] }, { fid: 1 }],
          ],
        );
      } finally {
        await store.close();
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('both routes interoperate on PostgreSQL', async (t) => {
    const created = await createTestDatabase({ prefix: 'fidlab_migr' });
    if (typeof created === 'string') return t.skip(created);
    try {
      const store = await openStore({ url: created.url });
      const kind: DatabaseKind = store.kind;
      assert.equal(kind, 'postgres');
      await store.close();
      const engine = await schemaEngine(new PrismaPg({ connectionString: created.url }));
      const out = await engine.applyMigrations({
        migrationsList: migrationList(),
        filters: NO_FILTERS,
      });
      assert.deepEqual(out.appliedMigrationNames, []);
      engine.free();
    } finally {
      await created.drop();
    }
  });
});
