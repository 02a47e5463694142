// face-api's FaceRecognitionNet (a port of dlib's ResNet-34-like face descriptor network) in
// plain tfjs ops, with the pretrained weights that ship in @vladmandic/face-api/model/.
//
// Preprocessing, exactly as face-api's FaceRecognitionNet.forwardInput + NetInput.toBatchTensor:
//   1. RGB in [0,1] -> [0,255] (face-api is fed 0-255 pixel tensors);
//   2. pad the shorter side with black to a square, centred (face-api's padToSquare with
//      isCenterImage: round(diff/2) rows/columns after the image, the rest before);
//   3. bilinear resize to 150x150 (tf.image.resizeBilinear, alignCorners=false,
//      halfPixelCenters=false), skipped when the image is already 150x150;
//   4. subtract the mean RGB (122.782, 117.001, 104.298), then divide by 255.
// Output: the 128-d descriptor, NOT L2-normalised (face-api returns the raw fc output too; dlib's
// descriptors are compared by Euclidean distance, 0.6 being the usual same-person threshold).
// The images should be face crops (face-api feeds aligned detections; fidlab's sketches are
// already aligned face crops).
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  defaultFacerecManifest,
  loadWeightsManifest,
  type ManifestTensor,
} from './facerecWeights.js';

export const FACEREC_INPUT_SIZE = 150;
export const FACEREC_MEAN_RGB = [122.782, 117.001, 104.298] as const;
export const FACEREC_DIMS = 128;

/** One conv + bias + per-channel scale layer, with the scale folded into filter and bias. */
export interface FacerecConv {
  filter: tf.Tensor4D; // [kh, kw, in, out]
  bias: tf.Tensor1D; // [out]
}

export interface FacerecParams {
  /** 'conv32_down' and '<block>/conv1', '<block>/conv2' for every residual block. */
  convs: Record<string, FacerecConv>;
  fc: tf.Tensor2D; // [256, 128]
}

type BlockKind = 'residual' | 'down';
/** The body after the stem, in order (face-api's forwardInput). */
export const FACEREC_BLOCKS: ReadonlyArray<readonly [string, BlockKind]> = [
  ['conv32_1', 'residual'],
  ['conv32_2', 'residual'],
  ['conv32_3', 'residual'],
  ['conv64_down', 'down'],
  ['conv64_1', 'residual'],
  ['conv64_2', 'residual'],
  ['conv64_3', 'residual'],
  ['conv128_down', 'down'],
  ['conv128_1', 'residual'],
  ['conv128_2', 'residual'],
  ['conv256_down', 'down'],
  ['conv256_1', 'residual'],
  ['conv256_2', 'residual'],
  ['conv256_down_out', 'down'],
];

/** Names of the conv layers in forward order (the stem first). */
export function facerecConvNames(): string[] {
  return ['conv32_down', ...FACEREC_BLOCKS.flatMap(([b]) => [`${b}/conv1`, `${b}/conv2`])];
}

/**
 * Builds the parameters from a face-api weight map (`<layer>/conv/filters|bias`,
 * `<layer>/scale/weights|biases`, `fc`). The scale layer is folded into the convolution:
 * (conv(x, W) + b) * s + c = conv(x, W * s) + (b * s + c), which is exact in real arithmetic and
 * saves two elementwise passes per layer.
 * Deviation: float32 rounding differs from face-api's unfolded order (relative ~1e-6).
 */
export function facerecParamsFromWeights(
  weights: Map<string, ManifestTensor>,
  file = 'face-api weights',
): FacerecParams {
  const get = (name: string, rank: number): ManifestTensor => {
    const t = weights.get(name);
    if (!t || t.shape.length !== rank) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${file}: ${t ? `'${name}' has shape [${t.shape}]` : `missing '${name}'`}; not face-api's face_recognition_model`,
      );
    }
    return t;
  };
  const convs: Record<string, FacerecConv> = {};
  for (const name of facerecConvNames()) {
    const w = get(`${name}/conv/filters`, 4);
    const b = get(`${name}/conv/bias`, 1);
    const s = get(`${name}/scale/weights`, 1);
    const c = get(`${name}/scale/biases`, 1);
    const out = w.shape[3];
    if (b.shape[0] !== out || s.shape[0] !== out || c.shape[0] !== out) {
      throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: '${name}' channel counts differ`);
    }
    const filter = new Float32Array(w.data.length);
    for (let i = 0; i < filter.length; i++) filter[i] = w.data[i] * s.data[i % out];
    const bias = new Float32Array(out);
    for (let o = 0; o < out; o++) bias[o] = b.data[o] * s.data[o] + c.data[o];
    convs[name] = {
      filter: tf.tensor4d(filter, w.shape as [number, number, number, number]),
      bias: tf.tensor1d(bias),
    };
  }
  const fc = get('fc', 2);
  return { convs, fc: tf.tensor2d(fc.data, fc.shape as [number, number]) };
}

export async function loadFacerecParams(manifest?: string): Promise<FacerecParams> {
  const file = manifest ?? defaultFacerecManifest();
  return facerecParamsFromWeights(await loadWeightsManifest(file), file);
}

export function disposeFacerecParams(p: FacerecParams): void {
  for (const c of Object.values(p.convs)) {
    c.filter.dispose();
    c.bias.dispose();
  }
  p.fc.dispose();
}

/**
 * Steps 2-3 of the preprocessing above, on [0,1] pixels (padding with 0 is black either way):
 * [n, h, w, 3] -> [n, size, size, 3].
 */
export function facerecResize(images: tf.Tensor4D, size = FACEREC_INPUT_SIZE): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c] = images.shape;
    if (c !== 3) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `facerec: expected RGB images [n, h, w, 3], got [${images.shape}]`,
      );
    }
    let x = images;
    if (h !== w) {
      const diff = Math.abs(h - w);
      const after = Math.round(diff * 0.5);
      const pad: [number, number] = [diff - after, after];
      x = tf.pad(x, h > w ? [[0, 0], [0, 0], pad, [0, 0]] : [[0, 0], pad, [0, 0], [0, 0]]);
    }
    if (x.shape[1] !== size) x = tf.image.resizeBilinear(x, [size, size], false, false);
    return x;
  });
}

/**
 * Steps 1-4 of the preprocessing above. images: [n, h, w, 3] in [0,1] -> [n, size, size, 3].
 * Deviation: face-api pads and resizes 0-255 values, fidlab [0,1] ones before scaling by 255;
 * both are linear, so the results agree to float rounding.
 */
export function facerecPreprocess(images: tf.Tensor4D, size = FACEREC_INPUT_SIZE): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.mul(facerecResize(images, size), 255);
    return tf.div(tf.sub(x, tf.tensor1d(FACEREC_MEAN_RGB as unknown as number[])), 255);
  });
}

function conv(x: tf.Tensor4D, p: FacerecConv, stride: 1 | 2, relu: boolean): tf.Tensor4D {
  // face-api's convDown is stride 2 with 'valid' padding; its stride-1 convs use 'same'.
  return tf.fused.conv2d({
    x,
    filter: p.filter,
    strides: stride,
    pad: stride === 2 ? 'valid' : 'same',
    bias: p.bias,
    activation: relu ? 'relu' : 'linear',
  });
}

function residual(x: tf.Tensor4D, p: FacerecParams, block: string): tf.Tensor4D {
  const out = conv(
    conv(x, p.convs[`${block}/conv1`], 1, true),
    p.convs[`${block}/conv2`],
    1,
    false,
  );
  return tf.relu(tf.add(out, x)) as tf.Tensor4D;
}

/**
 * dlib's downsampling block: a stride-2 valid conv branch plus a 2x2 average-pooled shortcut,
 * zero-padded in channels when they double. Where the conv branch comes out smaller than the
 * pooled shortcut (odd sizes), face-api appends zero rows/columns at the bottom/right.
 */
function residualDown(x: tf.Tensor4D, p: FacerecParams, block: string): tf.Tensor4D {
  let out = conv(conv(x, p.convs[`${block}/conv1`], 2, true), p.convs[`${block}/conv2`], 1, false);
  let pooled = tf.avgPool(x, 2, 2, 'valid');
  const [, ph, pw, pc] = pooled.shape;
  const [, oh, ow, oc] = out.shape;
  if (oh !== ph || ow !== pw) {
    out = tf.pad(out, [
      [0, 0],
      [0, ph - oh],
      [0, pw - ow],
      [0, 0],
    ]);
  }
  if (pc !== oc)
    pooled = tf.pad(pooled, [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, oc - pc],
    ]);
  return tf.relu(tf.add(pooled, out)) as tf.Tensor4D;
}

export interface FacerecOutputs {
  pool: tf.Tensor2D; // [n, 256] global average of the last block
  embedding: tf.Tensor2D; // [n, 128] the face descriptor
}

/**
 * The network on preprocessed input (facerecPreprocess). Not wrapped in tidy so that it can run
 * under tf.grad / optimizer.minimize; callers tidy.
 */
export function facerecForward(p: FacerecParams, x: tf.Tensor4D): FacerecOutputs {
  let out = conv(x, p.convs.conv32_down, 2, true); // 7x7 stride 2 valid
  out = tf.maxPool(out, 3, 2, 'valid');
  for (const [block, kind] of FACEREC_BLOCKS) {
    out = kind === 'down' ? residualDown(out, p, block) : residual(out, p, block);
  }
  const pool = tf.mean(out, [1, 2]) as tf.Tensor2D;
  return { pool, embedding: tf.matMul(pool, p.fc) };
}
