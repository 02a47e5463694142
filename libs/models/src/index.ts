// Public API of @fidlab/models: everything other packages may import is re-exported here.
export { BACKEND_NAMES, selectBackend, type BackendName } from './backend.js';
export { countGeneratorParams, createGenerator } from './createGenerator.js';
export type { ApplyOptions, Discriminator, Generator } from './generator.js';
export { BN_EPS, BN_MOMENTUM, INIT_STD, LEAKY_SLOPE, type ForwardContext } from './layers.js';
export {
  describeModel,
  isPowerOfTwo,
  MIN_SIZE,
  MODEL_NAMES,
  validateModelConfig,
  type ModelConfig,
  type ModelName,
} from './modelConfig.js';
export { ParamSet, normalSampler } from './params.js';
export { createPatchGan, type PatchGanConfig } from './patchgan.js';
export { UNET_DROPOUT } from './unet.js';
export { VAE_DROPOUT, VAE_LATENT } from './vae.js';
