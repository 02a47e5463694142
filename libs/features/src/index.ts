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
export {
  DEFAULT_BATCH_SIZE,
  folderFeatures,
  folderImages,
  imageFeatures,
  type FolderFeaturesOptions,
  type Rgb8Image,
} from './folderFeatures.js';
export { ExtractorPool, defaultWorkers } from './workerPool.js';
export { createFacerecExtractor, type FacerecExtractorOptions } from './facerec.js';
export { inceptionExtractor, vggFaceExtractor } from './families.js';
export {
  createGeneratorTapExtractor,
  generatorInput,
  type TappableGenerator,
} from './generatorTap.js';
