// The FID InceptionV3 exactly as pytorch-fid builds it (pytorch_fid/inception.py, FID weights):
// torchvision's layout with 1008 classes and no aux head; FIDInceptionA/C/E average pools
// exclude padding from the count (tf avgPool 'same' does); the last E block (Mixed_7c)
// max-pools in its pool branch; BatchNorm eps 1e-3, folded into the convs at load time.
// Input: NHWC RGB in [0,1] -> bilinear resize to 299 (F.interpolate align_corners=False =
// resizeBilinear halfPixelCenters) -> 2x - 1. Taps: pytorch-fid's blocks 0..3 (64, 192, 768,
// 2048 channels), each average-pooled to 1x1. Weights: pytorch-fid's
// pt_inception-2015-12-05-6726825d.pth (its state_dict key names).
import * as tf from '@tensorflow/tfjs';
import {
  countParameters,
  foldBatchNorm,
  get,
  loadConverted,
  oihwToHwio,
  tensor,
  type Conversion,
  type StateDict,
} from './stateDict.js';

export const INCEPTION_INPUT_SIZE = 299;
export const INCEPTION_DIMS = [64, 192, 768, 2048] as const;
export type InceptionDims = (typeof INCEPTION_DIMS)[number];
/** torchvision's BasicConv2d BatchNorm eps (the TF graph's value). */
const BN_EPS = 1e-3;

/** One BasicConv2d: conv (no bias) + BatchNorm + ReLU. */
interface ConvSpec {
  in: number;
  out: number;
  kh: number;
  kw: number;
  stride: 1 | 2;
  /** torchvision pads every stride-1 conv to keep the size ('same'), except three stem convs. */
  pad: 'same' | 'valid';
}

function conv(
  inC: number,
  out: number,
  kh: number,
  kw = kh,
  stride: 1 | 2 = 1,
  pad: 'same' | 'valid' = 'same',
): ConvSpec {
  return { in: inC, out, kh, kw, stride, pad };
}

const blockA = (inC: number, poolFeatures: number): Record<string, ConvSpec> => ({
  branch1x1: conv(inC, 64, 1),
  branch5x5_1: conv(inC, 48, 1),
  branch5x5_2: conv(48, 64, 5),
  branch3x3dbl_1: conv(inC, 64, 1),
  branch3x3dbl_2: conv(64, 96, 3),
  branch3x3dbl_3: conv(96, 96, 3),
  branch_pool: conv(inC, poolFeatures, 1),
});
const blockB = (inC: number): Record<string, ConvSpec> => ({
  branch3x3: conv(inC, 384, 3, 3, 2, 'valid'),
  branch3x3dbl_1: conv(inC, 64, 1),
  branch3x3dbl_2: conv(64, 96, 3),
  branch3x3dbl_3: conv(96, 96, 3, 3, 2, 'valid'),
});
const blockC = (inC: number, c7: number): Record<string, ConvSpec> => ({
  branch1x1: conv(inC, 192, 1),
  branch7x7_1: conv(inC, c7, 1),
  branch7x7_2: conv(c7, c7, 1, 7),
  branch7x7_3: conv(c7, 192, 7, 1),
  branch7x7dbl_1: conv(inC, c7, 1),
  branch7x7dbl_2: conv(c7, c7, 7, 1),
  branch7x7dbl_3: conv(c7, c7, 1, 7),
  branch7x7dbl_4: conv(c7, c7, 7, 1),
  branch7x7dbl_5: conv(c7, 192, 1, 7),
  branch_pool: conv(inC, 192, 1),
});
const blockD = (inC: number): Record<string, ConvSpec> => ({
  branch3x3_1: conv(inC, 192, 1),
  branch3x3_2: conv(192, 320, 3, 3, 2, 'valid'),
  branch7x7x3_1: conv(inC, 192, 1),
  branch7x7x3_2: conv(192, 192, 1, 7),
  branch7x7x3_3: conv(192, 192, 7, 1),
  branch7x7x3_4: conv(192, 192, 3, 3, 2, 'valid'),
});
const blockE = (inC: number): Record<string, ConvSpec> => ({
  branch1x1: conv(inC, 320, 1),
  branch3x3_1: conv(inC, 384, 1),
  branch3x3_2a: conv(384, 384, 1, 3),
  branch3x3_2b: conv(384, 384, 3, 1),
  branch3x3dbl_1: conv(inC, 448, 1),
  branch3x3dbl_2: conv(448, 384, 3),
  branch3x3dbl_3a: conv(384, 384, 1, 3),
  branch3x3dbl_3b: conv(384, 384, 3, 1),
  branch_pool: conv(inC, 192, 1),
});

/** Every BasicConv2d by its state_dict prefix, in forward order. */
const CONVS: Record<string, ConvSpec> = {
  Conv2d_1a_3x3: conv(3, 32, 3, 3, 2, 'valid'),
  Conv2d_2a_3x3: conv(32, 32, 3, 3, 1, 'valid'),
  Conv2d_2b_3x3: conv(32, 64, 3),
  Conv2d_3b_1x1: conv(64, 80, 1),
  Conv2d_4a_3x3: conv(80, 192, 3, 3, 1, 'valid'),
  ...prefixed('Mixed_5b', blockA(192, 32)),
  ...prefixed('Mixed_5c', blockA(256, 64)),
  ...prefixed('Mixed_5d', blockA(288, 64)),
  ...prefixed('Mixed_6a', blockB(288)),
  ...prefixed('Mixed_6b', blockC(768, 128)),
  ...prefixed('Mixed_6c', blockC(768, 160)),
  ...prefixed('Mixed_6d', blockC(768, 160)),
  ...prefixed('Mixed_6e', blockC(768, 192)),
  ...prefixed('Mixed_7a', blockD(768)),
  ...prefixed('Mixed_7b', blockE(1280)),
  ...prefixed('Mixed_7c', blockE(2048)),
};

function prefixed(block: string, convs: Record<string, ConvSpec>): Record<string, ConvSpec> {
  return Object.fromEntries(Object.entries(convs).map(([k, v]) => [`${block}.${k}`, v]));
}

/** The state_dict keys and shapes of pytorch-fid's FID Inception (fc included: it is in the file). */
export function inceptionStateDictShapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const [name, c] of Object.entries(CONVS)) {
    shapes[`${name}.conv.weight`] = [c.out, c.in, c.kh, c.kw];
    for (const p of ['weight', 'bias', 'running_mean', 'running_var'])
      shapes[`${name}.bn.${p}`] = [c.out];
  }
  shapes['fc.weight'] = [1008, 2048];
  shapes['fc.bias'] = [1008];
  return shapes;
}

/** 23,850,960 for pytorch-fid's network (BatchNorm running stats are buffers, not counted). */
export const INCEPTION_PARAMETERS = countParameters(inceptionStateDictShapes());

/**
 * PyTorch state_dict -> `<conv>.filter` [kh, kw, in, out] and `<conv>.bias` [out], BatchNorm
 * folded in (float64 arithmetic); the unused fc layer is dropped.
 */
export const INCEPTION_CONVERSION: Conversion = {
  tag: 'inception-tfjs-v1',
  arch: 'pytorch-fid FID InceptionV3',
  shapes: inceptionStateDictShapes(),
  convert(sd) {
    const out: StateDict = new Map();
    for (const name of Object.keys(CONVS)) {
      const { scale, shift } = foldBatchNorm(sd, `${name}.bn`, BN_EPS);
      out.set(`${name}.filter`, oihwToHwio(get(sd, `${name}.conv.weight`), scale));
      out.set(`${name}.bias`, tensor([shift.length], shift));
    }
    return out;
  },
};

interface FoldedConv {
  filter: tf.Tensor4D; // [kh, kw, in, out]
  bias: tf.Tensor1D; // [out]
  spec: ConvSpec;
}

/** The FID InceptionV3 forward pass over folded conv weights. */
export class FidInception {
  private readonly convs = new Map<string, FoldedConv>();

  /** `converted`: the output of INCEPTION_CONVERSION (see loadFidInception). */
  constructor(converted: StateDict) {
    for (const [name, spec] of Object.entries(CONVS)) {
      this.convs.set(name, {
        filter: tf.tensor4d(get(converted, `${name}.filter`).data, [
          spec.kh,
          spec.kw,
          spec.in,
          spec.out,
        ]),
        bias: tf.tensor1d(get(converted, `${name}.bias`).data),
        spec,
      });
    }
  }

  private conv(x: tf.Tensor4D, name: string): tf.Tensor4D {
    const c = this.convs.get(name)!;
    return tf.fused.conv2d({
      x,
      filter: c.filter,
      bias: c.bias,
      strides: c.spec.stride,
      pad: c.spec.pad,
      activation: 'relu',
    });
  }

  private mixedA(x: tf.Tensor4D, p: string): tf.Tensor4D {
    const b1 = this.conv(x, `${p}.branch1x1`);
    const b5 = this.conv(this.conv(x, `${p}.branch5x5_1`), `${p}.branch5x5_2`);
    let bd = this.conv(x, `${p}.branch3x3dbl_1`);
    bd = this.conv(this.conv(bd, `${p}.branch3x3dbl_2`), `${p}.branch3x3dbl_3`);
    // FIDInceptionA: count_include_pad=False, which tf's 'same' average pool does.
    const bp = this.conv(tf.avgPool(x, 3, 1, 'same'), `${p}.branch_pool`);
    return tf.concat([b1, b5, bd, bp], 3);
  }

  private mixedB(x: tf.Tensor4D, p: string): tf.Tensor4D {
    const b3 = this.conv(x, `${p}.branch3x3`);
    let bd = this.conv(x, `${p}.branch3x3dbl_1`);
    bd = this.conv(this.conv(bd, `${p}.branch3x3dbl_2`), `${p}.branch3x3dbl_3`);
    return tf.concat([b3, bd, tf.maxPool(x, 3, 2, 'valid')], 3);
  }

  private mixedC(x: tf.Tensor4D, p: string): tf.Tensor4D {
    const b1 = this.conv(x, `${p}.branch1x1`);
    let b7 = x;
    for (const k of ['branch7x7_1', 'branch7x7_2', 'branch7x7_3']) b7 = this.conv(b7, `${p}.${k}`);
    let bd = x;
    for (let i = 1; i <= 5; i++) bd = this.conv(bd, `${p}.branch7x7dbl_${i}`);
    const bp = this.conv(tf.avgPool(x, 3, 1, 'same'), `${p}.branch_pool`);
    return tf.concat([b1, b7, bd, bp], 3);
  }

  private mixedD(x: tf.Tensor4D, p: string): tf.Tensor4D {
    const b3 = this.conv(this.conv(x, `${p}.branch3x3_1`), `${p}.branch3x3_2`);
    let b7 = x;
    for (let i = 1; i <= 4; i++) b7 = this.conv(b7, `${p}.branch7x7x3_${i}`);
    return tf.concat([b3, b7, tf.maxPool(x, 3, 2, 'valid')], 3);
  }

  private mixedE(x: tf.Tensor4D, p: string, pool: 'avg' | 'max'): tf.Tensor4D {
    const b1 = this.conv(x, `${p}.branch1x1`);
    const b3 = this.conv(x, `${p}.branch3x3_1`);
    const b3ab = [this.conv(b3, `${p}.branch3x3_2a`), this.conv(b3, `${p}.branch3x3_2b`)];
    const bd = this.conv(this.conv(x, `${p}.branch3x3dbl_1`), `${p}.branch3x3dbl_2`);
    const bdab = [this.conv(bd, `${p}.branch3x3dbl_3a`), this.conv(bd, `${p}.branch3x3dbl_3b`)];
    // FIDInceptionE_1 average-pools (padding excluded); FIDInceptionE_2 max-pools: the TF graph's
    // last block does, torchvision's does not.
    const pooled = pool === 'avg' ? tf.avgPool(x, 3, 1, 'same') : tf.maxPool(x, 3, 1, 'same');
    const bp = this.conv(pooled, `${p}.branch_pool`);
    return tf.concat([b1, ...b3ab, ...bdab, bp], 3);
  }

  /** images: [n, h, w, 3] in [0,1] -> [n, dims], the tap average-pooled over space. */
  features(images: tf.Tensor4D, dims: InceptionDims): tf.Tensor2D {
    return this.taps(images, [dims])[dims]!;
  }

  /** Several taps from one forward pass, which stops at the deepest one asked for. */
  taps(images: tf.Tensor4D, want: InceptionDims[]): Partial<Record<InceptionDims, tf.Tensor2D>> {
    return tf.tidy(() => {
      const out: Partial<Record<InceptionDims, tf.Tensor2D>> = {};
      // pytorch-fid pools every tap to 1 x 1 (adaptive_avg_pool2d); true when nothing is left.
      const keep = (d: InceptionDims, x: tf.Tensor4D) => {
        if (want.includes(d)) out[d] = tf.mean(x, [1, 2]) as tf.Tensor2D;
        return want.every((w) => w in out);
      };
      const [, h, w] = images.shape;
      const S = INCEPTION_INPUT_SIZE;
      // F.interpolate(mode='bilinear', align_corners=False) = half-pixel centres, no antialias.
      let x: tf.Tensor4D =
        h === S && w === S ? images : tf.image.resizeBilinear(images, [S, S], false, true);
      x = tf.sub(tf.mul(x, 2), 1);
      x = this.conv(this.conv(this.conv(x, 'Conv2d_1a_3x3'), 'Conv2d_2a_3x3'), 'Conv2d_2b_3x3');
      x = tf.maxPool(x, 3, 2, 'valid');
      if (keep(64, x)) return out;
      x = tf.maxPool(this.conv(this.conv(x, 'Conv2d_3b_1x1'), 'Conv2d_4a_3x3'), 3, 2, 'valid');
      if (keep(192, x)) return out;
      for (const p of ['Mixed_5b', 'Mixed_5c', 'Mixed_5d']) x = this.mixedA(x, p);
      x = this.mixedB(x, 'Mixed_6a');
      for (const p of ['Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e']) x = this.mixedC(x, p);
      if (keep(768, x)) return out;
      x = this.mixedD(x, 'Mixed_7a');
      x = this.mixedE(x, 'Mixed_7b', 'avg');
      x = this.mixedE(x, 'Mixed_7c', 'max');
      keep(2048, x); // pool3
      return out;
    });
  }

  dispose(): void {
    for (const c of this.convs.values()) tf.dispose([c.filter, c.bias]);
    this.convs.clear();
  }
}

/** Loads a FID Inception from a PyTorch weights file (converted once, then cached). */
export async function loadFidInception(file: string): Promise<FidInception> {
  return new FidInception(await loadConverted(file, INCEPTION_CONVERSION));
}
