// The `facerec` extractors: face-api's face-recognition network (@fidlab/models) with its own
// preprocessing (pad to a square, resize to 150, mean/scale), tapped at the 128-d descriptor
// (`facerec`, not L2-normalised) or the 256-d pool before the fc layer (`facerec:pool`).
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  disposeFacerecParams,
  FACEREC_DIMS,
  facerecForward,
  facerecPreprocess,
  loadFacerecParams,
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
  const params = await loadFacerecParams(opts.weights);
  return {
    name: layer === 'embedding' ? 'facerec' : 'facerec:pool',
    dims: layer === 'embedding' ? FACEREC_DIMS : 256,
    extract: (images) => tf.tidy(() => facerecForward(params, facerecPreprocess(images))[layer]),
    dispose: () => disposeFacerecParams(params),
  };
}

/** Registry factory: `facerec` (128-d descriptor) or `facerec:pool` (256-d). */
export async function facerecFactory(
  arg: string | undefined,
  opts: { weights?: string },
): Promise<FeatureExtractor> {
  if (arg !== undefined && arg !== 'embedding' && arg !== 'pool') {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `extractor 'facerec:${arg}': unknown layer '${arg}' (known: facerec, facerec:pool)`,
    );
  }
  return createFacerecExtractor({
    weights: opts.weights,
    layer: arg === 'pool' ? 'pool' : 'embedding',
  });
}

export const facerecFamily: ExtractorFamily = {
  prefix: 'facerec',
  names: ['facerec', 'facerec:pool'],
  create: facerecFactory,
};
