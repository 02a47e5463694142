// Public API of @fidlab/experiments: sweep files, trial expansion, the embedded sweep engine.
export * from './sweepSpec.js';
export * from './expandTrials.js';
export * from './metricValues.js';
export * from './identityMetricValues.js';
export * from './trialConfig.js';
export * from './evaluateCheckpoint.js';
export * from './runSweep.js';
export * from './evaluationJob.js';
export type * from './ports.js';
