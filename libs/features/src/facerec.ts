// The `facerec` extractors: face-api's face-recognition network (@fidlab/models) with its own
// preprocessing (pad to a square, resize to 150, mean/scale), tapped at the 128-d descriptor
// (`facerec`, not L2-normalised) or the 256-d pool before the fc layer (`facerec:pool`).
import * as tf from '@tensorflow/tfjs';
import {
  defaultFacerecManifest,
  disposeFacerecParams,
  FACEREC_DIMS,
  FACEREC_INPUT_SIZE,
  facerecForward,
  facerecPreprocess,
  loadFacerecParams,
  weightsManifestFiles,
} from '@fidlab/models';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';

export interface FacerecExtractorOptions {
  /** A face-api weights manifest (or its directory); default: the one in node_modules. */
  weights?: string;
  /** 'embedding' (128-d, default) or 'pool' (256-d average before the fc layer). */
  layer?: 'embedding' | 'pool';
}

export async function createFacerecExtractor(
  opts: FacerecExtractorOptions = {},
): Promise<FeatureExtractor> {
  const layer = opts.layer ?? 'embedding';
  const file = opts.weights ?? defaultFacerecManifest();
  const params = await loadFacerecParams(file);
  return {
    name: layer === 'embedding' ? 'facerec' : 'facerec:pool',
    dims: layer === 'embedding' ? FACEREC_DIMS : 256,
    resize: { mode: 'pad-square-bilinear', size: FACEREC_INPUT_SIZE },
    weightFiles: await weightsManifestFiles(file),
    extract: (images) => tf.tidy(() => facerecForward(params, facerecPreprocess(images))[layer]),
    dispose: () => disposeFacerecParams(params),
  };
}

/** Registry factory: `facerec` (128-d descriptor) or `facerec:pool` (256-d). */
export async function facerecFactory(
  recipe: { family: 'facerec'; layer: 'embedding' | 'pool' },
  opts: { weights?: string },
): Promise<FeatureExtractor> {
  return createFacerecExtractor({ weights: opts.weights, layer: recipe.layer });
}

export const facerecFamily: ExtractorFamily<'facerec'> = {
  prefix: 'facerec',
  create: facerecFactory,
};
