// Backup and restore round trips on both databases, and the deep check of a damaged PGlite store.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@fidlab/testing';
import { backupKind, backupStore, checkStore, openStore, restoreStore } from '../src/index.js';

async function seed(url: string, name: string): Promise<void> {
  const store = await openStore({ url });
  const s = await store.upsertSweep({ name, spec: { v: 1 } });
  await store.createRuns(s.id, [{ parameters: { lr: 1 } }, { parameters: { lr: 2 } }]);
  await store.close();
}

async function sweeps(url: string): Promise<string[]> {
  const store = await openStore({ url });
  try {
    return (await store.listSweeps()).map((s) => s.name).sort();
  } finally {
    await store.close();
  }
}

describe('store backup and restore', () => {
  it('PostgreSQL: pg_dump / pg_restore round trip; the check reads every table', async (t) => {
    const created = await createTestDatabase({ prefix: 'fidlab_backup' });
    if (typeof created === 'string') return t.skip(created);
    const db: TestDatabase = created;
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-pgbackup-'));
    try {
      await seed(db.url, 'kept');
      const file = join(dir, 'store.dump');
      const b = await backupStore({ url: db.url }, file);
      assert.equal(b.kind, 'postgres');
      assert.equal(backupKind(file), 'pg_dump');
      await seed(db.url, 'later'); // changes after the backup are undone by the restore
      assert.deepEqual(await sweeps(db.url), ['kept', 'later']);
      const r = await restoreStore({ url: db.url }, file);
      assert.ok(r.check.ok, r.check.problems.join('; '));
      assert.deepEqual(await sweeps(db.url), ['kept']);
      const c = await checkStore({ url: db.url });
      assert.ok(c.ok);
      assert.equal(c.tables.find((x) => x.name === 'runs')?.rows, 2);
      // A PGlite dump is not restored into PostgreSQL.
      await assert.rejects(
        restoreStore({ url: db.url }, join(import.meta.dirname, '../package.json')),
        /not a pg_dump archive/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  });

  it('PGlite: a dump round trip keeps the replaced folder; check finds a truncated table without the manifest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-pglbackup-'));
    try {
      const store = join(dir, 'db');
      const url = `pglite:${store}`;
      await seed(url, 'kept');
      const file = join(dir, 'store.tgz');
      await backupStore({ url }, file);
      assert.equal(backupKind(file), 'pglite');
      // Damage it: truncate the runs table and remove the manifest, so only the deep check sees it.
      const manifest = JSON.parse(readFileSync(join(store, 'fidlab.manifest.json'), 'utf8')) as {
        files: { name: string; path: string }[];
      };
      truncateSync(join(store, manifest.files.find((f) => f.name === 'runs')!.path), 0);
      rmSync(join(store, 'fidlab.manifest.json'));
      const damaged = await checkStore({ url });
      assert.equal(damaged.ok, false);
      assert.match(damaged.problems.join('\n'), /^runs: could not read block/m);
      const r = await restoreStore({ url }, file);
      assert.ok(r.check.ok);
      assert.ok(r.movedAside && existsSync(r.movedAside));
      assert.deepEqual(await sweeps(url), ['kept']);
      assert.equal((await checkStore({ url })).tables.find((x) => x.name === 'runs')?.rows, 2);
      assert.ok(!existsSync(join(store, 'fidlab.lock')));
      assert.equal(readdirSync(dir).filter((f) => f.startsWith('db.before-restore-')).length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
