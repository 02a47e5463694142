// The built-in extractor families over published PyTorch weights: where their weights live by
// default and how a name's argument picks the tap.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';
import type { ExtractorFamily } from './extractor.js';
import {
  FidInception,
  INCEPTION_DIMS,
  INCEPTION_WEIGHTS_FILE,
  inceptionDims,
  inceptionExtractor,
  inceptionStateDictShapes,
} from './inception.js';
import { loadChecked, weightsCacheDir } from './stateDict.js';
import {
  VGGFACE_TAPS,
  VGGFACE_WEIGHTS_FILE,
  VggFace,
  vggFaceExtractor,
  vggFaceStateDictShapes,
  vggFaceTap,
} from './vggFace.js';

/** The weights file to load: the user's, else the cached download of `fidlab weights fetch`. */
export function weightsPath(model: string, file: string, given?: string): string {
  const path = given ?? join(weightsCacheDir(), file);
  if (!existsSync(path)) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      given
        ? `${given}: no such weights file`
        : `${model} weights not found at ${path}: run 'fidlab weights fetch ${model}' or pass --weights PATH`,
    );
  }
  return path;
}

export const inceptionFamily: ExtractorFamily = {
  prefix: 'inception',
  names: ['inception', ...INCEPTION_DIMS.map((d) => `inception:${d}`)],
  async create(arg, opts) {
    const dims = inceptionDims(arg); // before loading, so a bad name fails fast
    const file = weightsPath('inception', INCEPTION_WEIGHTS_FILE, opts.weights);
    const sd = await loadChecked(file, inceptionStateDictShapes(), 'pytorch-fid InceptionV3');
    return inceptionExtractor(new FidInception(sd), dims);
  },
};

export const vggFaceFamily: ExtractorFamily = {
  prefix: 'vggface',
  names: Object.keys(VGGFACE_TAPS).map((t) => `vggface:${t}`),
  async create(arg, opts) {
    const tap = vggFaceTap(arg);
    const file = weightsPath('vggface', VGGFACE_WEIGHTS_FILE, opts.weights);
    const sd = await loadChecked(file, vggFaceStateDictShapes(), 'VGG-Face (vgg_face_dag)');
    return vggFaceExtractor(new VggFace(sd), tap);
  },
};
