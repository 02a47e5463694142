// Writes prisma/migrations/<timestamp>_<name>/migration.sql with the SQL that takes the existing
// migrations to the current schema.prisma, computed offline by the wasm schema engine against an
// in-memory PGlite shadow database (stands in for `prisma migrate dev --create-only`).
//   node --import tsx --conditions=@fidlab/source libs/store/test/newMigration.ts NAME
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { defaultMigrationsDir } from '../src/index.js';
import { migrationsToSchemaSql } from './schemaEngine.js';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: newMigration.ts NAME   (lowercase letters, digits, _)');
  process.exit(2);
}
const sql = await migrationsToSchemaSql(new PrismaPGlite(new PGlite()));
if (sql.includes('This is an empty migration')) {
  console.log('schema.prisma and prisma/migrations agree: nothing to write');
} else {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const dir = join(defaultMigrationsDir(), `${stamp}_${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'migration.sql'), sql);
  console.log(`wrote ${dir}/migration.sql`);
}
