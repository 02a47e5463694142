// Public API of @fidlab/experiments: sweep files, trial expansion, the embedded sweep engine.
export * from './sweepSpec.js';
export * from './expandTrials.js';
export * from './metricValues.js';
