// PyTorch state_dict tensors -> tfjs layouts. The file reading and key checking live in
// @fidlab/weights; this file only re-lays out arrays (OIHW -> HWIO, BatchNorm folding).
import { ErrorCode, FidlabError } from '@fidlab/fid-core';
import {
  checkStateDict,
  loadStateDict,
  weightsCacheDir,
  type StateDict,
  type WeightTensor,
} from './weightsShim.js';

export { weightsCacheDir };

export type { StateDict, WeightTensor };

/**
 * Loads a state_dict and checks it against the architecture's keys and shapes. BatchNorm's
 * `num_batches_tracked` counters are dropped first: torch >= 0.4.1 writes them, older files
 * (pytorch-fid's) do not, and they carry no weights.
 */
export async function loadChecked(
  file: string,
  expected: Record<string, number[]>,
  arch: string,
): Promise<StateDict> {
  const sd = await loadStateDict(file);
  for (const k of [...sd.keys()]) if (k.endsWith('.num_batches_tracked')) sd.delete(k);
  checkStateDict(sd, expected, { file, arch });
  return sd;
}

export function get(sd: StateDict, key: string): WeightTensor {
  const t = sd.get(key);
  if (!t) throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `state_dict has no '${key}'`);
  return t;
}

/** Number of parameters an expected-shapes table describes. */
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
export function oihwToHwio(w: WeightTensor, scale?: Float64Array): Float32Array {
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
  return out;
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
