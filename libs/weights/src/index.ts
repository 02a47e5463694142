// Public API of @fidlab/weights: everything other packages may import is re-exported here.
export type { StateDict, WeightTensor } from './types.js';
export {
  loadStateDict,
  parseStateDict,
  sniffFormat,
  type WeightFileFormat,
} from './loadStateDict.js';
export { saveSafetensors, encodeSafetensors, readSafetensorsMetadata } from './safetensors.js';
