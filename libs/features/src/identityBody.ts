// The feature network under an identity classifier: its parameters as a flat, ordered list of
// named tensors (so training can turn any of them into variables and checkpoints can save them)
// and a forward pass that runs under tf.grad.
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';
import {
  FACEREC_INPUT_SIZE,
  facerecConvNames,
  facerecForward,
  facerecPreprocess,
  loadFacerecParams,
  type FacerecParams,
} from './facerec.js';

export type IdentityBodyKind = 'facerec';

export interface IdentityBodySpec {
  kind: IdentityBodyKind;
  /** Square input side the images are resized to (facerec: 150; smaller for quick runs). */
  inputSize: number;
}

export interface IdentityBody {
  readonly spec: IdentityBodySpec;
  /** Feature layers, shallow to deep; `featureLayer` feeds the classifier. */
  readonly layers: Record<string, number>;
  readonly featureLayer: string;
  /** Parameter groups (layers) in forward order, for `freezeThrough`. */
  readonly groups: string[];
  /** Every parameter, named `<group>/<tensor>`. */
  readonly params: Map<string, tf.Tensor>;
  /** images [n, h, w, 3] in [0,1] -> the named layers, [n, dims] each. Not tidied. */
  forward(
    params: Map<string, tf.Tensor>,
    images: tf.Tensor4D,
    layers: string[],
  ): Record<string, tf.Tensor2D>;
}

function facerecParamMap(p: FacerecParams): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  for (const name of facerecConvNames()) {
    m.set(`${name}/filter`, p.convs[name].filter);
    m.set(`${name}/bias`, p.convs[name].bias);
  }
  m.set('fc/weight', p.fc);
  return m;
}

function facerecFromMap(m: Map<string, tf.Tensor>): FacerecParams {
  const convs: FacerecParams['convs'] = {};
  for (const name of facerecConvNames()) {
    convs[name] = {
      filter: m.get(`${name}/filter`) as tf.Tensor4D,
      bias: m.get(`${name}/bias`) as tf.Tensor1D,
    };
  }
  return { convs, fc: m.get('fc/weight') as tf.Tensor2D };
}

/**
 * The face-api face-recognition network as a body: layers `pool` (256-d) and `embedding`
 * (128-d, feeds the classifier). Input: resized to `inputSize` as a square (datasets' sketches
 * are square crops), then face-api's mean subtraction and scaling.
 */
export function facerecBody(params: Map<string, tf.Tensor>, inputSize: number): IdentityBody {
  const groups = [...facerecConvNames(), 'fc'];
  return {
    spec: { kind: 'facerec', inputSize },
    layers: { pool: 256, embedding: 128 },
    featureLayer: 'embedding',
    groups,
    params,
    forward(p, images, layers) {
      const x = facerecPreprocess(images, inputSize);
      const out = facerecForward(facerecFromMap(p), x);
      const res: Record<string, tf.Tensor2D> = {};
      for (const l of layers) res[l] = out[l as 'pool' | 'embedding'];
      return res;
    },
  };
}

/** The pretrained body named by `spec` (weights from the package or `weights`). */
export async function createIdentityBody(
  spec: IdentityBodySpec,
  weights?: string,
): Promise<IdentityBody> {
  if (spec.kind === 'facerec') {
    if (spec.inputSize < FACEREC_MIN_INPUT) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `identity body facerec: inputSize must be >= ${FACEREC_MIN_INPUT} (its last stride-2 valid 3x3 conv needs a 3x3 map), got ${spec.inputSize}`,
      );
    }
    return facerecBody(facerecParamMap(await loadFacerecParams(weights)), spec.inputSize);
  }
  throw new FidlabError(ErrorCode.INVALID_CONFIG, `unknown identity body '${String(spec.kind)}'`);
}

/** The same body architecture over other parameter values (a checkpoint's). */
export function identityBodyFromParams(
  spec: IdentityBodySpec,
  params: Map<string, tf.Tensor>,
): IdentityBody {
  if (spec.kind === 'facerec') return facerecBody(params, spec.inputSize);
  throw new FidlabError(ErrorCode.INVALID_CONFIG, `unknown identity body '${String(spec.kind)}'`);
}

/** The parameter group of a parameter name (`conv64_1/conv2/filter` -> `conv64_1/conv2`). */
export function paramGroup(name: string): string {
  return name.slice(0, name.lastIndexOf('/'));
}

export const FACEREC_BODY_DEFAULT_SIZE = FACEREC_INPUT_SIZE;
/** Smallest square input facerec runs on. */
export const FACEREC_MIN_INPUT = 104;
