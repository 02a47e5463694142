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
// Pretrained networks used as feature extractors and identity bodies (their taps and extractor
// names are @fidlab/features').
export {
  countParameters,
  foldBatchNorm,
  loadConverted,
  oihwToHwio,
  type Conversion,
} from './nets/stateDict.js';
export {
  FidInception,
  INCEPTION_CONVERSION,
  INCEPTION_DIMS,
  INCEPTION_INPUT_SIZE,
  INCEPTION_PARAMETERS,
  inceptionStateDictShapes,
  loadFidInception,
  type InceptionDims,
} from './nets/inception.js';
export {
  loadVggFace,
  VggFace,
  VGGFACE_CLASSES,
  VGGFACE_CONVERSION,
  VGGFACE_INPUT_SIZE,
  VGGFACE_MEAN_RGB,
  VGGFACE_PARAMETERS,
  VGGFACE_TAPS,
  vggFaceStateDictShapes,
  type VggFaceTap,
} from './nets/vggFace.js';
export {
  disposeFacerecParams,
  FACEREC_BLOCKS,
  FACEREC_DIMS,
  FACEREC_INPUT_SIZE,
  FACEREC_MEAN_RGB,
  facerecConvNames,
  facerecForward,
  facerecParamsFromWeights,
  facerecPreprocess,
  facerecResize,
  loadFacerecParams,
  type FacerecConv,
  type FacerecOutputs,
  type FacerecParams,
} from './nets/facerec.js';
export {
  defaultFacerecManifest,
  loadWeightsManifest,
  weightsManifestFiles,
  type ManifestTensor,
} from './nets/facerecWeights.js';
export {
  createIdentityBody,
  FACEREC_MIN_INPUT,
  facerecBody,
  IDENTITY_BODY_INPUT,
  identityBodyFromParams,
  paramGroup,
  VGGFACE_DROPOUT,
  vggfaceBody,
  vggfaceParamMap,
  type IdentityBody,
  type IdentityBodyKind,
  type IdentityBodySpec,
} from './nets/identityBody.js';
