// The feature network under an identity classifier: its parameters as a flat, ordered list of
// named tensors (so training can turn any of them into variables and checkpoints can save them)
// and a forward pass that runs under tf.grad.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  checkStateDict,
  loadStateDict,
  weightsCacheDir,
  WEIGHTS_SOURCES,
  type StateDict,
  type WeightTensor,
} from '@fidlab/weights';
import {
  FACEREC_INPUT_SIZE,
  facerecConvNames,
  facerecForward,
  facerecPreprocess,
  facerecResize,
  loadFacerecParams,
  type FacerecParams,
} from './facerec.js';
import {
  VGGFACE_BLOCKS,
  VGGFACE_CONVS,
  VGGFACE_INPUT_SIZE,
  VGGFACE_MEAN_RGB,
  vggFaceStateDictShapes,
} from './vggFace.js';

export type IdentityBodyKind = 'facerec' | 'vggface';

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
  /**
   * The body's geometric preprocessing alone: [n, h, w, 3] in [0,1] -> [n, S, S, 3] in [0,1]
   * (forward skips it for input already at S x S).
   */
  resize(images: tf.Tensor4D): tf.Tensor4D;
  /**
   * images [n, h, w, 3] in [0,1] -> the named layers, [n, dims] each. Not tidied. `dropout`
   * (training only) gives the seed of the body's dropout masks; absent: inference.
   */
  forward(
    params: Map<string, tf.Tensor>,
    images: tf.Tensor4D,
    layers: string[],
    dropout?: { seed: number },
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
    resize: (images) => facerecResize(images, inputSize),
    forward(p, images, layers) {
      const x = facerecPreprocess(images, inputSize);
      const out = facerecForward(facerecFromMap(p), x);
      const res: Record<string, tf.Tensor2D> = {};
      for (const l of layers) res[l] = out[l as 'pool' | 'embedding'];
      return res;
    },
  };
}

// VGG-Face: conv blocks of 3x3 'same' convs + ReLU, each block ending in a 2x2 max pool;
// fc6 (over pool5), fc7, with ReLU and dropout 0.5 (training only) after each, as in
// vgg_face_dag; fc8 (the 2622 original identities) is dropped for the new classifier.
/** Each block's last conv, followed by a 2x2 max pool. */
const VGG_POOL_AFTER = new Set(VGGFACE_BLOCKS.map((ws, b) => `conv${b + 1}_${ws.length}`));
/** VGG-Face's dropout rate after relu6 and relu7. */
export const VGGFACE_DROPOUT = 0.5;

/**
 * vgg_face_dag.pth -> named tfjs tensors: conv weights OIHW -> HWIO; fc weights [out, in] ->
 * [in, out], fc6's inputs reordered from PyTorch's NCHW flatten to NHWC so pool5 needs no
 * transpose.
 */
export function vggfaceParamMap(sd: StateDict): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  const at = (k: string): WeightTensor => sd.get(k) as WeightTensor;
  for (const name of VGGFACE_CONVS) {
    const w = at(`${name}.weight`);
    const [o, i, kh, kw] = w.shape;
    const hwio = new Float32Array(w.data.length);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            hwio[((y * kw + x) * i + b) * o + a] = w.data[((a * i + b) * kh + y) * kw + x];
    m.set(`${name}/filter`, tf.tensor4d(hwio, [kh, kw, i, o]));
    m.set(`${name}/bias`, tf.tensor1d(at(`${name}.bias`).data));
  }
  const c = at('conv5_3.bias').shape[0]; // pool5's channels
  for (const name of ['fc6', 'fc7']) {
    const w = at(`${name}.weight`);
    const [out, inF] = w.shape;
    const t = new Float32Array(w.data.length); // [in, out], rows in NHWC order for fc6
    const hw = inF / c;
    for (let o = 0; o < out; o++) {
      for (let k = 0; k < inF; k++) {
        // fc6 input k in NHWC order is PyTorch column (k % c) * hw + floor(k / c).
        const src = name === 'fc6' ? (k % c) * hw + Math.floor(k / c) : k;
        t[k * out + o] = w.data[o * inF + src];
      }
    }
    m.set(`${name}/weight`, tf.tensor2d(t, [inF, out]));
    m.set(`${name}/bias`, tf.tensor1d(at(`${name}.bias`).data));
  }
  return m;
}

/**
 * VGG-Face as a body: layers fc6, relu6, fc7, relu7 (4096-d); relu7 feeds the classifier.
 * Widths come from the parameters, so a narrow copy at a small `inputSize` (fc6 sized for it)
 * runs the same code in tests.
 */
export function vggfaceBody(
  params: Map<string, tf.Tensor>,
  inputSize = VGGFACE_INPUT_SIZE,
): IdentityBody {
  const S = inputSize;
  const fc6Out = (params.get('fc6/weight') as tf.Tensor2D).shape[1];
  const fc7Out = (params.get('fc7/weight') as tf.Tensor2D).shape[1];
  return {
    spec: { kind: 'vggface', inputSize: S },
    layers: { fc6: fc6Out, relu6: fc6Out, fc7: fc7Out, relu7: fc7Out },
    featureLayer: 'relu7',
    groups: [...VGGFACE_CONVS, 'fc6', 'fc7'],
    params,
    resize: (images) => {
      const [, h, w] = images.shape;
      return h === S && w === S ? images : tf.image.resizeBilinear(images, [S, S], false, true);
    },
    forward(p, images, layers, dropout) {
      const [, h, w] = images.shape;
      let x: tf.Tensor4D =
        h === S && w === S ? images : tf.image.resizeBilinear(images, [S, S], false, true);
      x = tf.sub(tf.mul(x, 255), tf.tensor1d([...VGGFACE_MEAN_RGB]));
      for (const name of VGGFACE_CONVS) {
        x = tf.fused.conv2d({
          x,
          filter: p.get(`${name}/filter`) as tf.Tensor4D,
          bias: p.get(`${name}/bias`) as tf.Tensor1D,
          strides: 1,
          pad: 'same',
          activation: 'relu',
        });
        if (VGG_POOL_AFTER.has(name)) x = tf.maxPool(x, 2, 2, 'valid');
      }
      const out: Record<string, tf.Tensor2D> = {};
      const drop = (t: tf.Tensor2D, k: number): tf.Tensor2D =>
        dropout ? (tf.dropout(t, VGGFACE_DROPOUT, undefined, dropout.seed + k) as tf.Tensor2D) : t;
      const fc6 = tf.add(
        tf.matMul(
          tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D,
          p.get('fc6/weight') as tf.Tensor2D,
        ),
        p.get('fc6/bias') as tf.Tensor1D,
      ) as tf.Tensor2D;
      const relu6 = tf.relu(fc6) as tf.Tensor2D;
      const fc7 = tf.add(
        tf.matMul(drop(relu6, 1), p.get('fc7/weight') as tf.Tensor2D),
        p.get('fc7/bias') as tf.Tensor1D,
      ) as tf.Tensor2D;
      const relu7 = drop(tf.relu(fc7) as tf.Tensor2D, 2);
      const all: Record<string, tf.Tensor2D> = { fc6, relu6, fc7, relu7 };
      for (const l of layers) out[l] = all[l];
      return out;
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
  if (spec.kind === 'vggface') {
    if (spec.inputSize !== VGGFACE_INPUT_SIZE) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `identity body vggface: inputSize must be ${VGGFACE_INPUT_SIZE} (fc6 expects a 7x7 pool5), got ${spec.inputSize}`,
      );
    }
    const file = weights ?? path.join(weightsCacheDir(), WEIGHTS_SOURCES.vggface.file);
    const sd = await loadStateDict(file);
    checkStateDict(sd, vggFaceStateDictShapes(), { file, arch: 'VGG-Face (vgg_face_dag)' });
    return vggfaceBody(vggfaceParamMap(sd));
  }
  throw new FidlabError(ErrorCode.INVALID_CONFIG, `unknown identity body '${String(spec.kind)}'`);
}

/** The same body architecture over other parameter values (a checkpoint's). */
export function identityBodyFromParams(
  spec: IdentityBodySpec,
  params: Map<string, tf.Tensor>,
): IdentityBody {
  if (spec.kind === 'facerec') return facerecBody(params, spec.inputSize);
  if (spec.kind === 'vggface') return vggfaceBody(params, spec.inputSize);
  throw new FidlabError(ErrorCode.INVALID_CONFIG, `unknown identity body '${String(spec.kind)}'`);
}

/** The parameter group of a parameter name (`conv64_1/conv2/filter` -> `conv64_1/conv2`). */
export function paramGroup(name: string): string {
  return name.slice(0, name.lastIndexOf('/'));
}

/** Default input side per body. */
export const IDENTITY_BODY_INPUT: Record<IdentityBodyKind, number> = {
  facerec: FACEREC_INPUT_SIZE,
  vggface: VGGFACE_INPUT_SIZE,
};
/** Smallest square input facerec runs on. */
export const FACEREC_MIN_INPUT = 104;
