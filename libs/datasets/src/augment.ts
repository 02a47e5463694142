import { createRng } from '@fidlab/base';
import type { FloatImage } from './decodeImage.js';

/**
 * pix2pix's `resize_and_crop` + flip: resize to `loadSize` (286 for 256), take a random
 * `size` x `size` crop, flip horizontally half of the time. The same parameters go to both images
 * of a pair. Off for evaluation.
 */
export interface Pix2pixAugment {
  loadSize: number;
  flip: boolean;
}

/** Where to crop and whether to flip one sample. */
export interface AugmentParams {
  x: number;
  y: number;
  flip: boolean;
}

/** A 32-bit hash of a few integers (murmur3 finaliser per step), to seed per-sample RNGs. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x5bd1e995);
    h ^= h >>> 15;
    h = Math.imul(h, 0x27d4eb2d) >>> 0;
  }
  return h >>> 0;
}

/**
 * Crop offset and flip for sample `index` in `epoch`: the same for every run with `seed`,
 * whatever order or concurrency the loader uses. Offsets are uniform in [0, loadSize - size]
 * inclusive, as pix2pix's `random.randint(0, new_w - crop_size)`.
 */
export function augmentParams(
  aug: Pix2pixAugment,
  size: number,
  seed: number,
  epoch: number,
  index: number,
): AugmentParams {
  const rng = createRng(mixSeed(seed, epoch, index));
  const span = Math.max(aug.loadSize - size, 0) + 1;
  return { x: rng.int(span), y: rng.int(span), flip: aug.flip && rng.next() < 0.5 };
}

/**
 * Writes the `size` x `size` crop at (x, y) of `img`, flipped if asked, mapped from [0, 1] to
 * [lo, hi], into `out` at `offset` (HWC).
 */
export function cropFlipInto(
  img: FloatImage,
  p: AugmentParams,
  size: number,
  lo: number,
  hi: number,
  out: Float32Array,
  offset: number,
): void {
  const scale = hi - lo;
  const src = img.data;
  for (let y = 0; y < size; y++) {
    const rowIn = ((p.y + y) * img.width + p.x) * 3;
    const rowOut = offset + y * size * 3;
    for (let x = 0; x < size; x++) {
      const s = rowIn + (p.flip ? size - 1 - x : x) * 3;
      const o = rowOut + x * 3;
      out[o] = src[s] * scale + lo;
      out[o + 1] = src[s + 1] * scale + lo;
      out[o + 2] = src[s + 2] * scale + lo;
    }
  }
}

/** Writes 8-bit pixels mapped from [0, 255] to [lo, hi] into `out` at `offset`. */
export function unitInto(
  src: Uint8Array,
  lo: number,
  hi: number,
  out: Float32Array,
  offset: number,
): void {
  const scale = (hi - lo) / 255;
  for (let i = 0; i < src.length; i++) out[offset + i] = src[i] * scale + lo;
}

/**
 * Writes 8-bit gray pixels mapped from [0, 255] to [lo, hi] into `out` at `offset` as RGB (each
 * value three times), as PIL `convert('RGB')` expands gray.
 */
export function grayUnitInto(
  src: Uint8Array,
  lo: number,
  hi: number,
  out: Float32Array,
  offset: number,
): void {
  const scale = (hi - lo) / 255;
  for (let i = 0, o = offset; i < src.length; i++, o += 3) {
    const v = src[i] * scale + lo;
    out[o] = v;
    out[o + 1] = v;
    out[o + 2] = v;
  }
}

/**
 * `cropFlipInto` for 8-bit images (values in [0, 255]). Kept as its own loop: both are hot, and
 * one loop over `Float32Array | Uint8Array` ran ~5% slower in one loader-benchmark run.
 */
export function cropFlipInto8(
  img: { data: Uint8Array; width: number },
  p: AugmentParams,
  size: number,
  lo: number,
  hi: number,
  out: Float32Array,
  offset: number,
): void {
  const scale = (hi - lo) / 255;
  const src = img.data;
  for (let y = 0; y < size; y++) {
    const rowIn = ((p.y + y) * img.width + p.x) * 3;
    const rowOut = offset + y * size * 3;
    for (let x = 0; x < size; x++) {
      const s = rowIn + (p.flip ? size - 1 - x : x) * 3;
      const o = rowOut + x * 3;
      out[o] = src[s] * scale + lo;
      out[o + 1] = src[s + 1] * scale + lo;
      out[o + 2] = src[s + 2] * scale + lo;
    }
  }
}
