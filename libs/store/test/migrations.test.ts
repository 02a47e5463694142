// schema.prisma and prisma/migrations agree, and fidlab's migrator interoperates with Prisma's
// own engine (the wasm build of it): either can apply first, the other then finds nothing to do.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  defaultMigrationsDir,
  migrate,
  openStore,
  readMigrations,
  type DatabaseKind,
} from '../src/index.js';
import { createTestDatabase } from './pg.js';
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

  it('both routes interoperate on PostgreSQL', async (t) => {
    const created = await createTestDatabase('fidlab_migr');
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
