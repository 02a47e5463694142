// Helpers for tests only: imported from *.test.ts files and test/ folders, never from library or
// app code (a lint rule holds that line).
export { assertAllClose, assertClose, maxRelativeError, relativeError } from './close.js';
export { rejectsCode, throwsCode } from './throwsCode.js';
export { tempDir, type Cleanup } from './tempDir.js';
export { captureIo, type CapturedIo } from './captureIo.js';
export { findPython, pythonSkip, servicesRequired, skipOrFail } from './services.js';
export {
  createTestDatabase,
  PG_ADMIN_URL,
  type TestDatabase,
  type TestDatabaseOptions,
} from './database.js';
export {
  fidlabCli,
  tinyCheckpoint,
  tinyCheckpointInProcess,
  type TinyCheckpoint,
  type TinyCheckpointLibs,
  type TinyCheckpointOptions,
} from './tinyCheckpoint.js';
export { TINY_SWEEP_METRICS, tinySweepText, type TinySweepOptions } from './tinySweep.js';
