// Public API of @fidlab/training: everything other packages may import is re-exported here.
// One folder per trial kind (pix2pix/, identity/); what they share (the checkpoint folder writer,
// out-of-memory hints) sits at the top.
export { Adam, ADAM_EPS } from './pix2pix/adam.js';
export {
  CHECKPOINT_FORMAT,
  checkpointsDir,
  epochDirName,
  listCheckpoints,
  loadCheckpoint,
  readCheckpoint,
  type CheckpointFile,
  type CheckpointManifest,
} from './pix2pix/checkpoint.js';
export { datasetFingerprint } from './pix2pix/datasetFingerprint.js';
export {
  GENERATION,
  generateImages,
  generateSplit,
  toUint8,
  type GeneratedBatch,
  type GenerateOptions,
  type GenerateSplitOptions,
} from './pix2pix/generate.js';
export { ganLoss, klLoss, l1Loss } from './pix2pix/losses.js';
export { lrFactor } from './pix2pix/lrSchedule.js';
export { trainStep, type Nets } from './pix2pix/trainStep.js';
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
} from './pix2pix/train.js';
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
} from './pix2pix/trialConfig.js';
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
