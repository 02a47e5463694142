// Public API of @fidlab/training: everything other packages may import is re-exported here.
export { Adam, ADAM_EPS } from './adam.js';
export {
  CHECKPOINT_FORMAT,
  checkpointsDir,
  epochDirName,
  listCheckpoints,
  loadCheckpoint,
  readCheckpoint,
  type CheckpointFile,
  type CheckpointManifest,
} from './checkpoint.js';
export { datasetFingerprint } from './datasetFingerprint.js';
export {
  GENERATION,
  generateImages,
  generateSplit,
  toUint8,
  type GeneratedBatch,
  type GenerateOptions,
  type GenerateSplitOptions,
} from './generate.js';
export { ganLoss, klLoss, l1Loss } from './losses.js';
export { lrFactor } from './lrSchedule.js';
export { trainStep, type Nets } from './trainStep.js';
export { isOutOfMemory, outOfMemoryHint } from './outOfMemory.js';
export {
  checkpointEpoch,
  D_LAYERS,
  METRICS_FILE,
  train,
  type CheckpointEpoch,
  type EpochResult,
  type StepProgress,
  type TrainHooks,
  type TrainResult,
} from './train.js';
export {
  ARCHITECTURE_FIELDS,
  DataConfigSchema,
  DIRECTIONS,
  GAN_MODES,
  loadSizeOf,
  modelConfigOf,
  parseTrialConfig,
  TrialConfigSchema,
  TRIAL_PRESETS,
  type TrialPreset,
  type Direction,
  type GanMode,
  type TrialConfig,
  type TrialConfigInput,
} from './trialConfig.js';
export {
  describeRemoved,
  listCheckpointFolders,
  pruneCheckpointFiles,
  removeUnfinishedCheckpoints,
  writeCheckpoint,
  type WrittenFile,
} from './checkpointFolder.js';
// Identity fine-tuning (the `identity` trial): a face network as an identity classifier.
export {
  identityConfigSchema,
  parseIdentityConfig,
  type IdentityConfig,
  type IdentityConfigInput,
} from './identity/identityConfig.js';
export {
  epochFromManifest,
  trainIdentity,
  type IdentityEpochResult,
  type IdentityHooks,
  type IdentityTrainResult,
} from './identity/identityTrain.js';
export {
  listIdentityCheckpoints,
  loadIdentityCheckpoint,
  readIdentityManifest,
  saveIdentityCheckpoint,
  type IdentityCheckpointManifest,
} from './identity/identityCheckpoint.js';
