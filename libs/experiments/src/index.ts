// Public API of @fidlab/experiments: sweep files, trial expansion, the embedded sweep engine.
export * from './sweepSpec.js';
export * from './expandTrials.js';
export * from './metricValues.js';
export * from './identityMetricValues.js';
export * from './trialConfig.js';
export * from './evaluateCheckpoint.js';
export * from './runSweep.js';
export * from './evaluationJob.js';
export * from './inProcessDispatcher.js';
export * from './jobSchema.js';
export { runTrialJob, type TrialFinished } from './trials/trialJob.js';
export type * from './ports.js';
export * from './specChange.js';
export * from './artifactFeatureCache.js';
export * from './artifactCheckpointStore.js';
