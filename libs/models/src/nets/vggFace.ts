// VGG-Face (Parkhi et al. 2015): a VGG16 body with 2622 identity classes, 145,002,878
// parameters, in the layout of its common PyTorch release vgg_face_dag.pth (keys conv1_1.weight
// ... fc8.bias; fc6 is a Linear over pool5 flattened in NCHW order).
// Input: NHWC RGB in [0,1] -> bilinear resize to 224 (align_corners=False semantics) -> x 255
// minus the VGG-Face mean RGB. Taps (PyTorch names): conv5_3 (before its ReLU, 14x14x512
// flattened NCHW), pool5 (7x7x512 flattened NCHW, 25088-d), pool5-avg (512-d spatial mean of
// pool5, what the standard FID code would give), fc6 / relu6 / fc7 / relu7 (4096-d).
import * as tf from '@tensorflow/tfjs';
import {
  countParameters,
  get,
  loadConverted,
  oihwToHwio,
  tensor,
  type Conversion,
  type StateDict,
} from './stateDict.js';

export const VGGFACE_INPUT_SIZE = 224;
/** The training-set mean RGB of VGG-Face, subtracted from 0-255 pixels. */
export const VGGFACE_MEAN_RGB = [129.1863, 104.7624, 93.594] as const;
export const VGGFACE_CLASSES = 2622;

/** Channel widths of the five conv blocks (each ends with a 2x2 max pool). */
export const VGGFACE_BLOCKS: readonly (readonly number[])[] = [
  [64, 64],
  [128, 128],
  [256, 256, 256],
  [512, 512, 512],
  [512, 512, 512],
];

export const VGGFACE_TAPS = {
  conv5_3: 512 * 14 * 14,
  pool5: 512 * 7 * 7,
  'pool5-avg': 512,
  fc6: 4096,
  relu6: 4096,
  fc7: 4096,
  relu7: 4096,
} as const;
export type VggFaceTap = keyof typeof VGGFACE_TAPS;

/** The state_dict keys and shapes of vgg_face_dag.pth. */
export function vggFaceStateDictShapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  let c = 3;
  VGGFACE_BLOCKS.forEach((widths, b) =>
    widths.forEach((w, i) => {
      shapes[`conv${b + 1}_${i + 1}.weight`] = [w, c, 3, 3];
      shapes[`conv${b + 1}_${i + 1}.bias`] = [w];
      c = w;
    }),
  );
  const fc: Array<[string, number, number]> = [
    ['fc6', 4096, 512 * 7 * 7],
    ['fc7', 4096, 4096],
    ['fc8', VGGFACE_CLASSES, 4096],
  ];
  for (const [name, out, inF] of fc) {
    shapes[`${name}.weight`] = [out, inF];
    shapes[`${name}.bias`] = [out];
  }
  return shapes;
}

/** 145,002,878 for VGG-Face. */
export const VGGFACE_PARAMETERS = countParameters(vggFaceStateDictShapes());

/**
 * fc6's weight [4096, 25088] has its input columns in PyTorch's NCHW flatten order
 * (c * 49 + y * 7 + x); tfjs flattens NHWC ((y * 7 + x) * 512 + c). Permuting the columns once
 * lets fc6 run on the NHWC pool5 without a transpose per batch.
 */
function nchwColumnsToNhwc(w: Float32Array, out: number, c: number, hw: number): Float32Array {
  const res = new Float32Array(w.length);
  const inF = c * hw;
  for (let o = 0; o < out; o++) {
    const row = o * inF;
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < hw; p++) res[row + p * c + ch] = w[row + ch * hw + p];
  }
  return res;
}

/** NHWC [n, h, w, c] -> [n, c * h * w] in PyTorch's flatten order. */
function flattenNchw(x: tf.Tensor4D): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, c * h * w]);
}

/** conv1_1 ... conv5_3 in forward order. */
export const VGGFACE_CONVS = VGGFACE_BLOCKS.flatMap((widths, b) =>
  widths.map((_, i) => `conv${b + 1}_${i + 1}`),
);

/**
 * PyTorch state_dict -> conv filters HWIO [3, 3, in, out], fc weights kept [out, in] (used with
 * transposeB) with fc6's columns in NHWC order; fc8 (the 2622 classes) dropped.
 */
export const VGGFACE_CONVERSION: Conversion = {
  tag: 'vggface-tfjs-v1',
  arch: 'VGG-Face (vgg_face_dag)',
  shapes: vggFaceStateDictShapes(),
  convert(sd) {
    const out: StateDict = new Map();
    for (const name of VGGFACE_CONVS) {
      out.set(`${name}.filter`, oihwToHwio(get(sd, `${name}.weight`)));
      out.set(`${name}.bias`, get(sd, `${name}.bias`));
    }
    const fc6 = nchwColumnsToNhwc(get(sd, 'fc6.weight').data, 4096, 512, 49);
    out.set('fc6.weight', tensor([4096, 25088], fc6));
    for (const k of ['fc6.bias', 'fc7.weight', 'fc7.bias']) out.set(k, get(sd, k));
    return out;
  },
};

export class VggFace {
  private readonly convs: Array<{
    name: string;
    filter: tf.Tensor4D; // [3, 3, in, out]
    bias: tf.Tensor1D;
    /** The block's last conv: a 2x2 max pool follows. */
    poolAfter: boolean;
  }> = [];
  /** [out, in] as in PyTorch (multiplied with transposeB); fc6's columns in NHWC order. */
  private readonly fc: Record<'fc6' | 'fc7', { w: tf.Tensor2D; b: tf.Tensor1D }>;

  /** `converted`: the output of VGGFACE_CONVERSION (see loadVggFace). */
  constructor(converted: StateDict) {
    let c = 3;
    VGGFACE_BLOCKS.forEach((widths, b) =>
      widths.forEach((w, i) => {
        const name = `conv${b + 1}_${i + 1}`;
        this.convs.push({
          name,
          filter: tf.tensor4d(get(converted, `${name}.filter`).data, [3, 3, c, w]),
          bias: tf.tensor1d(get(converted, `${name}.bias`).data),
          poolAfter: i === widths.length - 1,
        });
        c = w;
      }),
    );
    const fc = (k: string, inF: number) => ({
      w: tf.tensor2d(get(converted, `${k}.weight`).data, [4096, inF]),
      b: tf.tensor1d(get(converted, `${k}.bias`).data),
    });
    this.fc = { fc6: fc('fc6', 25088), fc7: fc('fc7', 4096) };
  }

  /** images: [n, h, w, 3] in [0,1] -> [n, dims of the tap]. */
  features(images: tf.Tensor4D, tap: VggFaceTap): tf.Tensor2D {
    return this.taps(images, [tap])[tap]!;
  }

  /** Several taps from one forward pass, which stops at the deepest one asked for. */
  taps(images: tf.Tensor4D, want: VggFaceTap[]): Partial<Record<VggFaceTap, tf.Tensor2D>> {
    return tf.tidy(() => {
      const out: Partial<Record<VggFaceTap, tf.Tensor2D>> = {};
      const keep = (t: VggFaceTap, f: () => tf.Tensor2D) => {
        if (want.includes(t)) out[t] = f();
        return want.every((w) => w in out);
      };
      const [, h, w] = images.shape;
      const S = VGGFACE_INPUT_SIZE;
      let x: tf.Tensor4D =
        h === S && w === S ? images : tf.image.resizeBilinear(images, [S, S], false, true);
      x = tf.sub(tf.mul(x, 255), tf.tensor1d([...VGGFACE_MEAN_RGB]));
      for (const c of this.convs) {
        const opts = { x, filter: c.filter, bias: c.bias, strides: 1, pad: 'same' } as const;
        if (c.name === 'conv5_3') {
          const pre = tf.fused.conv2d(opts); // conv5_3 is tapped before its ReLU
          if (keep('conv5_3', () => flattenNchw(pre))) return out;
          x = tf.relu(pre);
        } else {
          x = tf.fused.conv2d({ ...opts, activation: 'relu' });
        }
        if (c.poolAfter) x = tf.maxPool(x, 2, 2, 'valid');
      }
      const pool5 = x;
      if (keep('pool5', () => flattenNchw(pool5))) return out;
      if (keep('pool5-avg', () => tf.mean(pool5, [1, 2]) as tf.Tensor2D)) return out;
      const n = x.shape[0];
      const { fc6, fc7 } = this.fc;
      // Deviation from a fused matMul: tfjs-wasm 4.22's _FusedMatMul with transposeB gives wrong
      // results for these sizes, so the bias is added separately.
      const y6 = tf.add(tf.matMul(tf.reshape(x, [n, 25088]), fc6.w, false, true), fc6.b);
      if (keep('fc6', () => y6 as tf.Tensor2D)) return out;
      const r6 = tf.relu(y6) as tf.Tensor2D;
      if (keep('relu6', () => r6)) return out;
      // dropout6 is the identity in eval mode
      const y7 = tf.add(tf.matMul(r6, fc7.w, false, true), fc7.b) as tf.Tensor2D;
      if (keep('fc7', () => y7)) return out;
      keep('relu7', () => tf.relu(y7));
      return out;
    });
  }

  dispose(): void {
    for (const c of this.convs) tf.dispose([c.filter, c.bias]);
    tf.dispose([this.fc.fc6.w, this.fc.fc6.b, this.fc.fc7.w, this.fc.fc7.b]);
  }
}

/** Loads VGG-Face from a PyTorch weights file (converted once, then cached). */
export async function loadVggFace(file: string): Promise<VggFace> {
  return new VggFace(await loadConverted(file, VGGFACE_CONVERSION));
}
