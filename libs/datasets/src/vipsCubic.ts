/**
 * libvips's 8-bit bicubic upsizing (what sharp's `resize(kernel: 'cubic')` runs when the image
 * grows), redone in JS for the pix2pix crop only, so the loader skips a sharp pipeline per image
 * and resamples just the 256 x 256 window it keeps instead of the whole 286 x 286 image.
 *
 * Byte-identical to libvips 8.17 `vips_resize` -> `vips_affine` with the "bicubic" interpolator
 * (libvips/resample/{resize.c,affine.c,bicubic.cpp}): output pixel x samples input coordinate
 * x / scale - 0.5 (resize's 0.5 input displacement), edges extended by copying, the fraction
 * rounded to 1/64, Catmull-Rom weights truncated to 12-bit fixed point, the horizontal pass rounded
 * to an integer per row before the vertical pass, then rounded and clipped to [0, 255]. Only for
 * scale >= 1 on both axes (shrinking goes through libvips reduce, a different filter).
 */

const TRANSFORM_SCALE = 64; // VIPS_TRANSFORM_SCALE: fraction steps
const SHIFT = 12; // VIPS_INTERPOLATE_SHIFT
const HALF = 1 << (SHIFT - 1);

/** vips_bicubic_matrixi: Catmull-Rom weights for fraction t / 64, truncated to 12-bit ints. */
const WEIGHTS: Int32Array = (() => {
  const w = new Int32Array((TRANSFORM_SCALE + 1) * 4);
  const f32 = new Float32Array(1);
  for (let t = 0; t <= TRANSFORM_SCALE; t++) {
    f32[0] = t / TRANSFORM_SCALE; // (float) x / VIPS_TRANSFORM_SCALE
    const x = f32[0];
    // calculate_coefficients_catmull, in the same operation order.
    const cr1 = 1 - x;
    const cr2 = -0.5 * x;
    const cr3 = cr1 * cr2;
    const cone = cr1 * cr3;
    const cfou = x * cr3;
    const cr4 = cfou - cone;
    const ctwo = cr1 - cone + cr4;
    const cthr = x - cfou - cr4;
    const c = [cone, ctwo, cthr, cfou];
    for (let i = 0; i < 4; i++) w[t * 4 + i] = Math.trunc(c[i] * (1 << SHIFT));
  }
  return w;
})();

/** For each output position on one axis: the 4 clamped input indices and the 4 weights. */
interface AxisTaps {
  idx: Int32Array; // [m * 4]
  w: Int32Array; // [m * 4]
}

const tapCache = new Map<string, AxisTaps>();

/**
 * Taps of one axis growing from n to m pixels (m >= n); the other axis grows from n2 to m2 (the
 * inverse matrix entry depends on both scales through the determinant).
 */
function axisTaps(n: number, m: number, n2: number, m2: number): AxisTaps {
  const key = `${n}:${m}:${n2}:${m2}`;
  let t = tapCache.get(key);
  if (t) return t;
  // sharp: resize(1 / (n / m), vscale 1 / (n2 / m2)); vips__transform_calc_inverse: ia = 1/det * d.
  const a = 1 / (n / m);
  const d = 1 / (n2 / m2);
  const ia = (1 / (a * d)) * d;
  const idx = new Int32Array(m * 4);
  const w = new Int32Array(m * 4);
  for (let o = 0; o < m; o++) {
    // Coordinate in the input embedded with a 2-pixel border (window_offset 1 + 1 extra).
    // affine.c: ix = ia * ox; ix -= idx (0.5 - 1 for the border); ix += window_offset.
    const e = ia * o + 0.5 + 1;
    const i = Math.trunc(e);
    const s = Math.trunc(e * TRANSFORM_SCALE * 2);
    const frac = ((s & (TRANSFORM_SCALE * 2 - 1)) + 1) >> 1;
    for (let k = 0; k < 4; k++) {
      const p = i - 3 + k; // embedded i - 1 + k, minus the border of 2
      idx[o * 4 + k] = p < 0 ? 0 : p > n - 1 ? n - 1 : p;
      w[o * 4 + k] = WEIGHTS[frac * 4 + k];
    }
  }
  t = { idx, w };
  if (tapCache.size > 64) tapCache.clear();
  tapCache.set(key, t);
  return t;
}

/** Taps that copy pixel o to o (weight 1 << SHIFT on the second tap, as libvips's fraction 0). */
function identityTaps(m: number): AxisTaps {
  const key = `id:${m}`;
  let t = tapCache.get(key);
  if (t) return t;
  const idx = new Int32Array(m * 4);
  const w = new Int32Array(m * 4);
  for (let o = 0; o < m; o++) {
    idx.fill(o, o * 4, o * 4 + 4);
    w[o * 4 + 1] = 1 << SHIFT;
  }
  t = { idx, w };
  tapCache.set(key, t);
  return t;
}

/** Whether `vipsCubicCropInto` reproduces sharp for this resize (no shrinking on either axis). */
export function vipsCubicApplies(width: number, height: number, target: number): boolean {
  return target >= width && target >= height;
}

// Horizontal results lie in [-32, 287] (Catmull-Rom overshoot), so 16 bits hold them.
let scratch = new Int16Array(0);
let rowBuf = new Uint8ClampedArray(0);

/** Horizontal pass over the crop's columns for input rows r0..r1, rounded per row as libvips. */
function horizontal(
  src: Uint8Array,
  width: number,
  channels: 1 | 3,
  tx: AxisTaps,
  x0: number,
  size: number,
  r0: number,
  r1: number,
  h: Int16Array,
): void {
  const inRow = width * channels;
  const { idx, w } = tx;
  let q = 0;
  for (let r = r0; r <= r1; r++) {
    const base = r * inRow;
    if (channels === 1) {
      for (let j = x0 * 4, end = (x0 + size) * 4; j < end; j += 4) {
        h[q++] =
          (w[j] * src[base + idx[j]] +
            w[j + 1] * src[base + idx[j + 1]] +
            w[j + 2] * src[base + idx[j + 2]] +
            w[j + 3] * src[base + idx[j + 3]] +
            HALF) >>
          SHIFT;
      }
    } else {
      for (let j = x0 * 4, end = (x0 + size) * 4; j < end; j += 4) {
        const w0 = w[j];
        const w1 = w[j + 1];
        const w2 = w[j + 2];
        const w3 = w[j + 3];
        const p0 = base + idx[j] * 3;
        const p1 = base + idx[j + 1] * 3;
        const p2 = base + idx[j + 2] * 3;
        const p3 = base + idx[j + 3] * 3;
        h[q] = (w0 * src[p0] + w1 * src[p1] + w2 * src[p2] + w3 * src[p3] + HALF) >> SHIFT;
        h[q + 1] =
          (w0 * src[p0 + 1] + w1 * src[p1 + 1] + w2 * src[p2 + 1] + w3 * src[p3 + 1] + HALF) >>
          SHIFT;
        h[q + 2] =
          (w0 * src[p0 + 2] + w1 * src[p1 + 2] + w2 * src[p2 + 2] + w3 * src[p3 + 2] + HALF) >>
          SHIFT;
        q += 3;
      }
    }
  }
}

/**
 * Resizes 8-bit pixels (1 = gray, 3 = RGB channels, HWC) to `target` x `target` as libvips
 * cubic does, takes the `size` crop at (crop.x, crop.y), mirrors it if `crop.flip`, maps
 * [0, 255] to [lo, hi] and writes RGB float32 into `out` at `offset` (gray repeated in R, G, B).
 * Values equal `unitInto(resizeCropVips(...))` bit for bit.
 */
export function vipsCubicCropInto(
  src: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  target: number,
  crop: { x: number; y: number; flip: boolean },
  size: number,
  lo: number,
  hi: number,
  out: Float32Array,
  offset: number,
): void {
  // sharp skips the resize when the size already matches: then the taps are plain copies.
  const same = width === target && height === target;
  const tx = same ? identityTaps(target) : axisTaps(width, target, height, target);
  const ty = same ? tx : axisTaps(height, target, width, target);
  // Input rows the crop's vertical taps touch.
  let r0 = height;
  let r1 = -1;
  for (let k = crop.y * 4; k < (crop.y + size) * 4; k++) {
    r0 = Math.min(r0, ty.idx[k]);
    r1 = Math.max(r1, ty.idx[k]);
  }
  const rowLen = size * channels;
  const need = (r1 - r0 + 1) * rowLen;
  if (scratch.length < need) scratch = new Int16Array(need);
  if (rowBuf.length < rowLen) rowBuf = new Uint8ClampedArray(rowLen);
  const h = scratch;
  const row = rowBuf;
  horizontal(src, width, channels, tx, crop.x, size, r0, r1, h);
  // The same float mapping as `unitInto`: v * ((hi - lo) / 255) + lo, stored as float32.
  const lut = new Float32Array(256);
  const scale = (hi - lo) / 255;
  for (let v = 0; v < 256; v++) lut[v] = v * scale + lo;
  const { idx, w } = ty;
  for (let y = 0; y < size; y++) {
    // Vertical pass; the clamped array clips to [0, 255] as libvips's VIPS_CLIP.
    const j = (crop.y + y) * 4;
    const w0 = w[j];
    const w1 = w[j + 1];
    const w2 = w[j + 2];
    const w3 = w[j + 3];
    const q0 = (idx[j] - r0) * rowLen;
    const q1 = (idx[j + 1] - r0) * rowLen;
    const q2 = (idx[j + 2] - r0) * rowLen;
    const q3 = (idx[j + 3] - r0) * rowLen;
    for (let i = 0; i < rowLen; i++) {
      row[i] = (w0 * h[q0 + i] + w1 * h[q1 + i] + w2 * h[q2 + i] + w3 * h[q3 + i] + HALF) >> SHIFT;
    }
    // Flip and float.
    const o = offset + y * size * 3;
    if (channels === 1) {
      if (crop.flip) {
        for (let k = 0, d = o + (size - 1) * 3; k < size; k++, d -= 3) {
          const f = lut[row[k]];
          out[d] = f;
          out[d + 1] = f;
          out[d + 2] = f;
        }
      } else {
        for (let k = 0, d = o; k < size; k++, d += 3) {
          const f = lut[row[k]];
          out[d] = f;
          out[d + 1] = f;
          out[d + 2] = f;
        }
      }
    } else if (crop.flip) {
      for (let k = 0, d = o + (size - 1) * 3; k < rowLen; k += 3, d -= 3) {
        out[d] = lut[row[k]];
        out[d + 1] = lut[row[k + 1]];
        out[d + 2] = lut[row[k + 2]];
      }
    } else {
      for (let i = 0; i < rowLen; i++) out[o + i] = lut[row[i]];
    }
  }
}
