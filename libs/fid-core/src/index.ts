// Public API of @fidlab/fid-core: the numerics only (FID, KID, rank-k, bootstrap CIs,
// correlations, the linear algebra under them). Errors, rng and file formats are in @fidlab/base.
export * from './kid.js';
export * from './rankK.js';
export * from './correlation.js';
export * from './matrix.js';
export * from './featureStats.js';
export * from './frechetDistance.js';
export * from './covarianceCheck.js';
export * from './bootstrapFid.js';
export { gemmNT, gemmNN, gemmTN, syrkTN, transpose } from './linalg/gemm.js';
export { singularValues } from './linalg/singularValues.js';
export { symmetricEigenvalues } from './linalg/symmetricEigenvalues.js';
