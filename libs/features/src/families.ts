// The built-in extractor families over published PyTorch weights: the name's argument picks the
// tap; the weights are the given file, else the verified download in the weights cache.
import { resolveWeights } from '@fidlab/weights';
import type { ExtractorFamily } from './extractor.js';
import { inceptionExtractor, loadFidInception } from './inception.js';
import { loadVggFace, vggFaceExtractor } from './vggFace.js';

export const inceptionFamily: ExtractorFamily<'inception'> = {
  prefix: 'inception',
  async create(recipe, opts) {
    const file = await resolveWeights('inception', opts.weights);
    const net = await loadFidInception(file);
    return { ...inceptionExtractor(net, recipe.dims), weightFiles: [file] };
  },
};

export const vggFaceFamily: ExtractorFamily<'vggface'> = {
  prefix: 'vggface',
  async create(recipe, opts) {
    const file = await resolveWeights('vggface', opts.weights);
    const net = await loadVggFace(file);
    return { ...vggFaceExtractor(net, recipe.layer), weightFiles: [file] };
  },
};
