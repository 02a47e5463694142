// Public API of @fidlab/store: everything other packages may import is re-exported here.
export {
  openStore,
  Store,
  parametersKey,
  canonicalJson,
  METRIC_CHUNK_ROWS,
  MAX_BIND_PARAMS,
} from './store.js';
export type { OpenStoreOptions, StoreChange } from './store.js';
export { resolveTarget, maskUrl, DEFAULT_DB_DIR } from './database.js';
export type { DatabaseKind, DatabaseOptions } from './database.js';
export { migrate, readMigrations, migrationChecksum, defaultMigrationsDir } from './migrate.js';
export { generateToken, hashToken, TOKEN_PREFIX } from './tokens.js';
export { checkTags, type AnnotationTarget } from './annotations.js';
export * from './types.js';
export { checkStore, backupStore, restoreStore, backupKind } from './backup.js';
export type { StoreCheckResult, BackupResult, RestoreResult } from './backup.js';
export { deepCheck, MANIFEST_FILE } from './check.js';
export type { CheckReport } from './check.js';
export { LOCK_FILE } from './lock.js';
