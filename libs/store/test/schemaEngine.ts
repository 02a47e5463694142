// Prisma's schema engine compiled to WebAssembly (@prisma/schema-engine-wasm), driven through a
// driver adapter instead of its native binary (which cannot be downloaded here). The package is
// built for bundlers (`import * as wasm from "./x.wasm"`), so the .wasm is instantiated by hand.
// Test/dev only: the store itself applies migrations with src/migrate.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm';
import { defaultMigrationsDir, readMigrations } from '../src/index.js';

// Node has WebAssembly but @types/node does not declare it (it lives in lib.dom).
interface Wasm {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: Record<string, unknown> }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

let ready: Promise<void> | undefined;

function loadWasm(): Promise<void> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@prisma/schema-engine-wasm'));
    const module = await wasmApi.compile(readFileSync(join(dir, 'schema_engine_bg.wasm')));
    const instance = await wasmApi.instantiate(module, { './schema_engine_bg.js': bg });
    const exports = instance.exports as { __wbindgen_start?: () => void };
    bg.__wbg_set_wasm(exports);
    exports.__wbindgen_start?.();
  })();
  return ready;
}

export const SCHEMA_PATH = join(dirname(defaultMigrationsDir()), 'schema.prisma');
export const NO_FILTERS = { externalTables: [], externalEnums: [] };

export function schemaFiles(): { path: string; content: string }[] {
  return [{ path: 'schema.prisma', content: readFileSync(SCHEMA_PATH, 'utf8') }];
}

/** The migrations folder in the shape the engine takes (files already read). */
export function migrationList(dir = defaultMigrationsDir()): MigrationList {
  return {
    baseDir: dir,
    lockfile: {
      path: 'migration_lock.toml',
      content: readFileSync(join(dir, 'migration_lock.toml'), 'utf8'),
    },
    shadowDbInitScript: '',
    migrationDirectories: readMigrations(dir).map((m) => ({
      path: m.name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: m.sql } },
    })),
  };
}

export async function schemaEngine(
  adapter: SqlMigrationAwareDriverAdapterFactory,
): Promise<SchemaEngine> {
  await loadWasm();
  const engine = await bg.SchemaEngine.new(
    { datamodels: schemaFiles().map((f) => [f.path, f.content] as [string, string]) },
    () => undefined,
    // The engine calls the factory's methods unbound and expects Result-wrapped answers.
    bindMigrationAwareSqlAdapterFactory(adapter),
  );
  return engine as unknown as SchemaEngine;
}

/** SQL taking the migrations folder to schema.prisma ('-- This is an empty migration.' if none). */
export async function migrationsToSchemaSql(
  adapter: SqlMigrationAwareDriverAdapterFactory,
): Promise<string> {
  const engine = await schemaEngine(adapter);
  try {
    const r = await engine.diff({
      from: { tag: 'migrations', ...migrationList() },
      to: { tag: 'schemaDatamodel', files: schemaFiles() },
      script: true,
      exitCode: null,
      filters: NO_FILTERS,
    });
    return r.stdout ?? '';
  } finally {
    engine.free();
  }
}
