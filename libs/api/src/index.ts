// Public API of @fidlab/api: everything other packages may import is re-exported here.
export { appRouter, type AppRouter } from './router.js';
export type { Context } from './trpc.js';
export { createApiServer, DEFAULT_PORT, TRPC_PATH } from './server.js';
export type { ApiServer, ApiServerOptions } from './server.js';
export { apiError, createApiClient, trpcUrl } from './client.js';
export type { ApiClient, ApiClientOptions } from './client.js';
export { dashboardDir, serveStore, untilInterrupted } from './serveStore.js';
export {
  ARTIFACT_SAMPLES,
  artifactSamples,
  fileUnder,
  runSamples,
  RUN_FILES_PATH,
  type SampleSource,
} from './files.js';
export type { RunSamples, SampleFile, SampleKind } from './files.js';
export { isAppRoute } from './dashboard.js';
export type { ServeStoreOptions, ServedStore } from './serveStore.js';
export {
  bestWithRecipe,
  correlationOf,
  epochsWithRecipes,
  type BestWithRecipe,
  type CorrelationResult,
  type EpochWithRecipes,
} from './recipes.js';
