// Public API of @fidlab/weights: everything other packages may import is re-exported here.
export type { StateDict, WeightTensor } from './types.js';
export {
  loadStateDict,
  parseStateDict,
  sniffFormat,
  type WeightFileFormat,
} from './loadStateDict.js';
export {
  saveSafetensors,
  encodeSafetensors,
  readSafetensors,
  readSafetensorsMetadata,
} from './safetensors.js';
export {
  checkStateDict,
  diffStateDict,
  isBatchCounter,
  type CheckOptions,
  type StateDictDiff,
} from './checkStateDict.js';
export { weightsCacheDir, sha256File, sha256Memo, cachedConversion } from './cache.js';
export {
  WEIGHTS_SOURCES,
  knownWeights,
  weightsPath,
  fetchWeights,
  resolveWeights,
  verifyWeightsFile,
  sha256Problem,
  type WeightsSource,
  type KnownWeights,
  type FetchOptions,
  type FetchResult,
  type ResolveOptions,
} from './fetchWeights.js';
