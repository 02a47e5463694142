// im2col and col2im as index tables for the sgemm arena's gathers. A table depends only on the
// convolution's geometry and the chunk of output rows, so it is built once (in JS) and kept in the
// arena; every later step of a training run lays out its GEMM operands with one wasm gather per
// chunk, shared between the threads. Entries are byte offsets from the gathered region's start;
// `zero` is the offset of a zero float placed after that region (padding).
import type { ConvGeom } from './conv-gemm.js';
import { sgemm } from '../sgemm/threads.js';

/** Words (int32) of tables kept in the arena; past this the cache is emptied and refilled. */
const BUDGET = 1 << 25;

export interface TableSpec {
  key: string;
  length: number;
  build(tab: Int32Array, at: number): void;
}

/** Tables cached at the start of the arena; scratch space for a call starts at `end`. */
class IndexCache {
  private used = 0;
  private readonly at = new Map<string, number>();

  /** Arena offsets (words) of the tables, built where missing. Call before laying out scratch. */
  place(specs: TableSpec[]): number[] {
    const missing = specs.filter((s) => !this.at.has(s.key));
    const need = missing.reduce((a, s) => a + s.length, 0);
    if (need > 0 && this.used + need > BUDGET) {
      this.at.clear();
      this.used = 0;
      return this.place(specs);
    }
    if (need > 0) {
      const gm = sgemm();
      gm.reserve(this.used + need);
      const tab = gm.i32();
      for (const s of missing) {
        s.build(tab, this.used);
        this.at.set(s.key, this.used);
        this.used += s.length;
      }
    }
    return specs.map((s) => this.at.get(s.key)!);
  }

  /** First arena word free for scratch, 16-word aligned. */
  get end(): number {
    return Math.ceil(this.used / 16) * 16;
  }
}

export const indexCache = new IndexCache();

const key = (kind: string, g: ConvGeom, ...rest: number[]) =>
  `${kind}:${g.n},${g.h},${g.w},${g.c},${g.kh},${g.kw},${g.sh},${g.sw},${g.oh},${g.ow},${g.top},${g.left}:${rest}`;

/**
 * Rows of im2col for output rows [q0, q1) (q = b * oh + y), M >= (q1 - q0) * ow rows of k = kh *
 * kw * c each: entry (pixel, (i, j, ch)) = 4 * x index, or `zero` outside the image.
 */
export function im2colRows(
  g: ConvGeom,
  q0: number,
  q1: number,
  M: number,
  zero: number,
): TableSpec {
  const { h, w, c, kh, kw, sh, sw, oh, ow, top, left } = g;
  const k = kh * kw * c;
  return {
    key: key('rows', g, q0, q1, M, zero),
    length: M * k,
    build(tab, at) {
      tab.fill(zero, at, at + M * k);
      let d = at;
      for (let q = q0; q < q1; q++) {
        const b = Math.floor(q / oh);
        const y0 = (q - b * oh) * sh - top;
        for (let xo = 0; xo < ow; xo++, d += k) {
          const x0 = xo * sw - left;
          const j0 = Math.max(0, -x0);
          const j1 = Math.min(kw, w - x0);
          for (let i = 0; i < kh; i++) {
            const yy = y0 + i;
            if (yy < 0 || yy >= h || j1 <= j0) continue;
            // Taps j0..j1 of filter row i read one contiguous run of input row yy.
            const src = ((b * h + yy) * w + x0 + j0) * c;
            const dst = d + (i * kw + j0) * c;
            for (let t = 0; t < (j1 - j0) * c; t++) tab[dst + t] = 4 * (src + t);
          }
        }
      }
    },
  };
}

/**
 * im2col transposed for output rows [q0, q1): Kr >= k rows (tap and channel), one column per
 * pixel of the chunk (m = (q1 - q0) * ow).
 */
export function im2colCols(
  g: ConvGeom,
  q0: number,
  q1: number,
  Kr: number,
  zero: number,
): TableSpec {
  const { h, w, c, kh, kw, sh, sw, oh, ow, top, left } = g;
  const m = (q1 - q0) * ow;
  return {
    key: key('cols', g, q0, q1, Kr, zero),
    length: Kr * m,
    build(tab, at) {
      tab.fill(zero, at, at + Kr * m);
      for (let j = 0; j < kw; j++) {
        // Output columns whose tap j falls inside the image.
        const xa = Math.max(0, Math.ceil((left - j) / sw));
        const xb = Math.min(ow, Math.floor((w - 1 + left - j) / sw) + 1);
        for (let i = 0; i < kh && xb > xa; i++) {
          for (let q = q0; q < q1; q++) {
            const b = Math.floor(q / oh);
            const yy = (q - b * oh) * sh - top + i;
            if (yy < 0 || yy >= h) continue;
            const s0 = ((b * h + yy) * w + xa * sw - left + j) * c;
            let d = at + (i * kw + j) * c * m + (q - q0) * ow + xa;
            for (let ch = 0; ch < c; ch++, d += m) {
              for (let t = 0; t < xb - xa; t++) tab[d + t] = 4 * (s0 + ch + t * sw * c);
            }
          }
        }
      }
    },
  };
}

/** Most columns one input element can receive: the taps of a window that can land on it. */
export const col2imFanIn = (g: ConvGeom) => Math.ceil(g.kh / g.sh) * Math.ceil(g.kw / g.sw);

/** The band of dx (flat, in floats) that output rows [q0, q1) reach. */
export function col2imBand(g: ConvGeom, q0: number, q1: number): [number, number] {
  const { h, w, c, kh, sh, oh, top } = g;
  const b0 = Math.floor(q0 / oh);
  const b1 = Math.floor((q1 - 1) / oh);
  const lo = Math.max(0, (q0 - b0 * oh) * sh - top);
  const hi = Math.min(h - 1, (q1 - 1 - b1 * oh) * sh - top + kh - 1);
  return [(b0 * h + lo) * w * c, (b1 * h + hi + 1) * w * c];
}

/**
 * col2im of output rows [q0, q1) as a gather-sum: for each dx element of the band, r = fan-in
 * entries, the offsets of the columns that cover it in the GEMM result (element (pixel mi, kk) at
 * mi * pixStep + kk * kkStep), padded with `zero`.
 */
export function col2imSum(
  g: ConvGeom,
  q0: number,
  q1: number,
  pixStep: number,
  kkStep: number,
  zero: number,
): TableSpec {
  const { h, w, c, kh, kw, sh, sw, oh, ow, top, left } = g;
  const r = col2imFanIn(g);
  const [lo, hi] = col2imBand(g, q0, q1);
  return {
    key: key('col2im', g, q0, q1, pixStep, kkStep, zero),
    length: (hi - lo) * r,
    build(tab, at) {
      tab.fill(zero, at, at + (hi - lo) * r);
      const count = new Uint8Array(hi - lo);
      let mi = 0;
      for (let q = q0; q < q1; q++) {
        const b = Math.floor(q / oh);
        const y0 = (q - b * oh) * sh - top;
        for (let xo = 0; xo < ow; xo++, mi++) {
          const x0 = xo * sw - left;
          for (let i = 0; i < kh; i++) {
            const yy = y0 + i;
            if (yy < 0 || yy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const xx = x0 + j;
              if (xx < 0 || xx >= w) continue;
              const e0 = ((b * h + yy) * w + xx) * c - lo;
              const kk0 = (i * kw + j) * c;
              for (let ch = 0; ch < c; ch++) {
                const e = e0 + ch;
                tab[at + e * r + count[e]++] = 4 * (mi * pixStep + (kk0 + ch) * kkStep);
              }
            }
          }
        }
      }
    },
  };
}
