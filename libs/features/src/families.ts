// The built-in extractor families over published PyTorch weights: the name's argument picks the
// tap; the weights are the given file, else the verified download in the weights cache. The
// networks live in @fidlab/models; here each becomes a FeatureExtractor at one tap.
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  INCEPTION_DIMS,
  INCEPTION_INPUT_SIZE,
  loadFidInception,
  loadVggFace,
  VGGFACE_INPUT_SIZE,
  VGGFACE_TAPS,
  type FidInception,
  type InceptionDims,
  type VggFace,
  type VggFaceTap,
} from '@fidlab/models';
import { resolveWeights } from '@fidlab/weights';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';

/** Parses the part after 'inception:' (undefined = pool3). */
export function inceptionDims(arg: string | undefined): InceptionDims {
  if (arg === undefined || arg === '' || arg === 'pool3') return 2048;
  const d = Number(arg);
  if (!(INCEPTION_DIMS as readonly number[]).includes(d)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `inception:${arg}: the dims must be one of ${INCEPTION_DIMS.join(', ')}`,
    );
  }
  return d as InceptionDims;
}

/** A FeatureExtractor over a loaded FID Inception. */
export function inceptionExtractor(net: FidInception, dims: InceptionDims): FeatureExtractor {
  return {
    name: `inception:${dims}`,
    dims,
    inputSize: INCEPTION_INPUT_SIZE,
    extract: (images) => net.features(images, dims),
    dispose: () => net.dispose(),
  };
}

export function vggFaceTap(arg: string | undefined): VggFaceTap {
  if (arg === undefined || !(arg in VGGFACE_TAPS)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `vggface:${arg ?? ''}: the layer must be one of ${Object.keys(VGGFACE_TAPS).join(', ')}`,
    );
  }
  return arg as VggFaceTap;
}

export function vggFaceExtractor(net: VggFace, tap: VggFaceTap): FeatureExtractor {
  return {
    name: `vggface:${tap}`,
    dims: VGGFACE_TAPS[tap],
    inputSize: VGGFACE_INPUT_SIZE,
    extract: (images) => net.features(images, tap),
    dispose: () => net.dispose(),
  };
}
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
