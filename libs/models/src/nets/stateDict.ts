// PyTorch state_dict tensors -> tfjs layouts. Reading, key checking and the conversion cache
// live in @fidlab/weights; this file only re-lays out arrays (OIHW -> HWIO, BatchNorm folding).
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  cachedConversion,
  checkStateDict,
  type StateDict,
  type WeightTensor,
} from '@fidlab/weights';

export type { StateDict, WeightTensor };

/** How one architecture's PyTorch state_dict becomes the tensors its tfjs forward pass uses. */
export interface Conversion {
  /** Names the conversion in the cache; bump the version when `convert` changes. */
  tag: string;
  /** Named in errors, e.g. 'pytorch-fid InceptionV3'. */
  arch: string;
  /** Every key of the PyTorch state_dict with its shape. */
  shapes: Record<string, number[]>;
  convert(sd: StateDict): StateDict;
}

/**
 * Loads a PyTorch weights file (.pth zip or legacy, or .safetensors) converted to tfjs layouts:
 * the first time the file is checked against the architecture (missing, unexpected and
 * mis-shaped keys are refused) and converted, later times the cached conversion is read.
 */
export async function loadConverted(file: string, c: Conversion): Promise<StateDict> {
  return cachedConversion(file, c.tag, (sd) => {
    checkStateDict(sd, c.shapes, { file, arch: c.arch });
    return c.convert(sd);
  });
}

export function get(sd: StateDict, key: string): WeightTensor {
  const t = sd.get(key);
  if (!t) throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `state_dict has no '${key}'`);
  return t;
}

export function tensor(shape: number[], data: Float32Array): WeightTensor {
  return { shape, dtype: 'float32', data };
}

/** Number of parameters an expected-shapes table describes (BatchNorm running stats excluded). */
export function countParameters(expected: Record<string, number[]>): number {
  let n = 0;
  for (const [k, shape] of Object.entries(expected)) {
    if (k.endsWith('running_mean') || k.endsWith('running_var')) continue; // buffers
    n += shape.reduce((a, b) => a * b, 1);
  }
  return n;
}

/**
 * Conv weight OIHW [o, i, kh, kw] -> tfjs HWIO [kh, kw, i, o], each output channel multiplied
 * by `scale[o]` (BatchNorm folding; computed in float64, stored float32).
 */
export function oihwToHwio(w: WeightTensor, scale?: Float64Array): WeightTensor {
  const [o, i, kh, kw] = w.shape;
  const out = new Float32Array(w.data.length);
  const src = w.data;
  for (let oc = 0; oc < o; oc++) {
    const s = scale ? scale[oc] : 1;
    for (let ic = 0; ic < i; ic++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          out[((y * kw + x) * i + ic) * o + oc] = src[((oc * i + ic) * kh + y) * kw + x] * s;
        }
      }
    }
  }
  return tensor([kh, kw, i, o], out);
}

/**
 * Folds eval-mode BatchNorm into the preceding bias-free conv:
 *   y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta = conv(x) * scale + shift.
 */
export function foldBatchNorm(
  sd: StateDict,
  prefix: string,
  eps: number,
): { scale: Float64Array; shift: Float32Array } {
  const gamma = get(sd, `${prefix}.weight`).data;
  const beta = get(sd, `${prefix}.bias`).data;
  const mean = get(sd, `${prefix}.running_mean`).data;
  const variance = get(sd, `${prefix}.running_var`).data;
  const scale = new Float64Array(gamma.length);
  const shift = new Float32Array(gamma.length);
  for (let c = 0; c < gamma.length; c++) {
    scale[c] = gamma[c] / Math.sqrt(variance[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  return { scale, shift };
}
