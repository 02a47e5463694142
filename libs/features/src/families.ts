// The built-in extractor families over published PyTorch weights: the name's argument picks the
// tap; the weights are the given file, else the verified download in the weights cache.
import { resolveWeights } from '@fidlab/weights';
import type { ExtractorFamily } from './extractor.js';
import {
  INCEPTION_DIMS,
  inceptionDims,
  inceptionExtractor,
  loadFidInception,
} from './inception.js';
import { VGGFACE_TAPS, loadVggFace, vggFaceExtractor, vggFaceTap } from './vggFace.js';

export const inceptionFamily: ExtractorFamily = {
  prefix: 'inception',
  names: ['inception', ...INCEPTION_DIMS.map((d) => `inception:${d}`)],
  async create(arg, opts) {
    const dims = inceptionDims(arg); // before loading, so a bad name fails fast
    const net = await loadFidInception(await resolveWeights('inception', opts.weights));
    return inceptionExtractor(net, dims);
  },
};

export const vggFaceFamily: ExtractorFamily = {
  prefix: 'vggface',
  names: Object.keys(VGGFACE_TAPS).map((t) => `vggface:${t}`),
  async create(arg, opts) {
    const tap = vggFaceTap(arg);
    const net = await loadVggFace(await resolveWeights('vggface', opts.weights));
    return vggFaceExtractor(net, tap);
  },
};
