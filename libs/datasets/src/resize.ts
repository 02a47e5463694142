/**
 * Resizing float images the way the FID tools do it, because FID values depend on it.
 * Images are HWC float arrays, `channels` interleaved.
 */

/**
 * - `pytorch-bilinear`: pytorch-fid. Pixels to [0, 1], then `F.interpolate(mode='bilinear',
 *   align_corners=False)`: half-pixel centres, two taps, no antialiasing when shrinking.
 * - `pil-bicubic`: clean-fid. PIL `Image.resize(BICUBIC)` on float ('F') channels: Keys cubic
 *   with a = -0.5, support widened by the scale when shrinking (antialiased), clipped to range.
 * - `vips-bicubic`: libvips (sharp) cubic on 8-bit pixels: the same Catmull-Rom kernel, rounded
 *   to 8 bits like pix2pix's torchvision `Resize(BICUBIC)` on PIL images, and run in sharp's
 *   thread pool. For training augmentation, not for FID.
 */
export type ResizeMode = 'pytorch-bilinear' | 'pil-bicubic' | 'vips-bicubic';
export const RESIZE_MODES: readonly ResizeMode[] = [
  'pytorch-bilinear',
  'pil-bicubic',
  'vips-bicubic',
];

/**
 * Default resize mode per use. FID: pytorch-fid's resize (the FID most papers report); a
 * clean-fid recipe names `pil-bicubic`. Training: pix2pix's bicubic on 8-bit images, at C speed.
 */
export const DEFAULT_RESIZE: { readonly fid: ResizeMode; readonly train: ResizeMode } = {
  fid: 'pytorch-bilinear',
  train: 'vips-bicubic',
};

/** Taps and weights of a 1-D resampling: output i = sum_k w[i*taps+k] * in[idx[i*taps+k]]. */
interface Taps {
  taps: number;
  idx: Int32Array;
  w: Float32Array;
}

/** torch `area_pixel_compute_source_index` (align_corners=False, clamped at 0) + linear taps. */
function bilinearTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const idx = new Int32Array(outSize * 2);
  const w = new Float32Array(outSize * 2);
  for (let i = 0; i < outSize; i++) {
    const src = Math.max(scale * (i + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const l1 = src - i0;
    idx[2 * i] = i0;
    idx[2 * i + 1] = i1;
    w[2 * i] = 1 - l1;
    w[2 * i + 1] = l1;
  }
  return { taps: 2, idx, w };
}

/** PIL's bicubic filter (Keys, a = -0.5), support 2. */
function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** PIL `precompute_coeffs` (Resample.c) for the bicubic filter. */
function bicubicTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const idx = new Int32Array(outSize * taps);
  const w = new Float32Array(outSize * taps);
  const k = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = cubic((x + xmin - center + 0.5) / filterScale);
      ww += k[x];
    }
    // Deviation: weights are stored as float32 (PIL keeps doubles); results differ by ~1e-7.
    for (let x = 0; x < taps; x++) {
      // Unused taps point at a valid pixel with weight 0, so the inner loop needs no bounds.
      idx[i * taps + x] = x < xmax ? xmin + x : xmin;
      w[i * taps + x] = x < xmax && ww !== 0 ? k[x] / ww : 0;
    }
  }
  return { taps, idx, w };
}

/** Horizontal pass: [h, inW, c] -> [h, outW, c]. */
function resampleRows(
  src: Float32Array,
  h: number,
  inW: number,
  c: number,
  t: Taps,
  outW: number,
): Float32Array {
  const out = new Float32Array(h * outW * c);
  const { taps, idx, w } = t;
  for (let y = 0; y < h; y++) {
    const rowIn = y * inW * c;
    const rowOut = y * outW * c;
    for (let x = 0; x < outW; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = 0; k < taps; k++)
          s += w[x * taps + k] * src[rowIn + idx[x * taps + k] * c + ch];
        out[rowOut + x * c + ch] = s;
      }
    }
  }
  return out;
}

/** Vertical pass: [inH, w, c] -> [outH, w, c]. */
function resampleCols(
  src: Float32Array,
  w_: number,
  c: number,
  t: Taps,
  outH: number,
): Float32Array {
  const rowLen = w_ * c;
  const out = new Float32Array(outH * rowLen);
  const { taps, idx, w } = t;
  for (let y = 0; y < outH; y++) {
    const o = y * rowLen;
    for (let k = 0; k < taps; k++) {
      const wk = w[y * taps + k];
      if (wk === 0) continue;
      const r = idx[y * taps + k] * rowLen;
      for (let i = 0; i < rowLen; i++) out[o + i] += wk * src[r + i];
    }
  }
  return out;
}

/**
 * Resizes a float HWC image with the named mode's arithmetic (`vips-bicubic` is done by sharp on
 * 8-bit data, see `decodeImage`; here it falls back to `pil-bicubic`'s arithmetic).
 */
export function resizeFloat(
  src: Float32Array, // [inH, inW, c]
  inH: number,
  inW: number,
  c: number,
  outH: number,
  outW: number,
  mode: ResizeMode,
): Float32Array {
  if (inH === outH && inW === outW) return src;
  const taps = mode === 'pytorch-bilinear' ? bilinearTaps : bicubicTaps;
  // PIL resamples horizontally first, then vertically; bilinear is separable either way.
  const rows = inW === outW ? src : resampleRows(src, inH, inW, c, taps(inW, outW), outW);
  const out = inH === outH ? rows : resampleCols(rows, outW, c, taps(inH, outH), outH);
  if (mode !== 'pytorch-bilinear') {
    // clean-fid clips each resized channel to the pixel range (here [0, 1]).
    for (let i = 0; i < out.length; i++) out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  }
  return out;
}
