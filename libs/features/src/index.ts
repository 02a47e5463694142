// Public API of @fidlab/features: everything other packages may import is re-exported here.
export type { ExtractorFactory, ExtractorFamily, FeatureExtractor } from './extractor.js';
export {
  createExtractor,
  extractorResize,
  extractorWeightsSha256,
  knownExtractors,
} from './registry.js';
export * from './metricRecipe.js';
export { identityBodyResize } from './identityExtractor.js';
export { IDENTITY_BODY_INPUT } from './identityBody.js';
export {
  DEFAULT_BATCH_SIZE,
  folderFeatures,
  folderImages,
  imageFeatures,
  type FolderFeaturesOptions,
  type Rgb8Image,
} from './folderFeatures.js';
export { ExtractorPool, defaultWorkers } from './workerPool.js';
export {
  FidInception,
  INCEPTION_DIMS,
  INCEPTION_INPUT_SIZE,
  INCEPTION_PARAMETERS,
  INCEPTION_CONVERSION,
  inceptionStateDictShapes,
  loadFidInception,
  type InceptionDims,
} from './inception.js';
export {
  VggFace,
  VGGFACE_INPUT_SIZE,
  VGGFACE_MEAN_RGB,
  VGGFACE_PARAMETERS,
  VGGFACE_TAPS,
  VGGFACE_CONVERSION,
  vggFaceStateDictShapes,
  loadVggFace,
  type VggFaceTap,
} from './vggFace.js';
export {
  createFacerecExtractor,
  FACEREC_DIMS,
  FACEREC_INPUT_SIZE,
  FACEREC_MEAN_RGB,
  facerecForward,
  facerecPreprocess,
  loadFacerecParams,
  type FacerecParams,
} from './facerec.js';
export { loadWeightsManifest, defaultFacerecManifest } from './facerecWeights.js';
export {
  createGeneratorTapExtractor,
  generatorInput,
  type TappableGenerator,
} from './generatorTap.js';
export {
  identityConfigSchema,
  parseIdentityConfig,
  type IdentityConfig,
  type IdentityConfigInput,
} from './identityConfig.js';
export {
  epochFromManifest,
  trainIdentity,
  type IdentityEpochResult,
  type IdentityHooks,
  type IdentityTrainResult,
} from './identityTrain.js';
export {
  listIdentityCheckpoints,
  loadIdentityCheckpoint,
  readIdentityManifest,
  saveIdentityCheckpoint,
  type IdentityCheckpointManifest,
} from './identityCheckpoint.js';
