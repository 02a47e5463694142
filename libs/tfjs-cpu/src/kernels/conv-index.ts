// im2col and col2im as index tables for the sgemm arena's gathers. The input is copied into the
// arena with its zero padding made explicit (padded images of Hp x Wp pixels), so an im2col
// entry is always a real address and a table depends only on the convolution's geometry and on
// which rows of an image (or how many whole images) a chunk covers, not on which images: it is
// built once in JS, kept in the arena, and reused for every chunk, batch and training step.
// Entries are byte offsets from the first image of the chunk.
import type { ConvGeom } from './conv-gemm.js';
import { sgemm } from '../sgemm/threads.js';

/** Words (int32) of tables kept in the arena (256 MB); past this the cache is emptied. */
const BUDGET = 1 << 26;

export interface TableSpec {
  key: string;
  length: number;
  build(tab: Int32Array, at: number): void;
}

/** Tables cached at the start of the arena; a call's scratch space starts at `end`. */
class IndexCache {
  /** The arena the tables are in (a new sgemm, after setCpuThreads, starts empty). */
  private arena: object | undefined;
  private used = 0;
  private readonly at = new Map<string, number>();
  /** The last call's tables alone were over budget: drop them before the next call. */
  private oversized = false;

  /** Arena offsets (words) of the tables, built where missing. Call before laying out scratch. */
  place(specs: TableSpec[]): number[] {
    if (this.arena !== sgemm()) {
      this.arena = sgemm();
      this.at.clear();
      this.used = 0;
    }
    // Chunks at the same place in different images share a table: build each key once.
    const missingOf = () =>
      specs.filter((s, i) => !this.at.has(s.key) && specs.findIndex((t) => t.key === s.key) === i);
    let missing = missingOf();
    let need = missing.reduce((a, s) => a + s.length, 0);
    if (this.oversized || (need > 0 && this.used + need > BUDGET)) {
      this.at.clear();
      this.used = 0;
      missing = missingOf();
      need = missing.reduce((a, s) => a + s.length, 0);
    }
    this.oversized = need > BUDGET;
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

/** A chunk of the output: images [b0, b0 + nb), output rows [y0, y1) of each. */
export interface Chunk {
  b0: number;
  nb: number;
  y0: number;
  y1: number;
}

/** The input padded explicitly: Hp x Wp pixels per image, the image at (top, left). */
export function padded(g: ConvGeom): { Hp: number; Wp: number } {
  return {
    Hp: Math.max(g.top + g.h, (g.oh - 1) * g.sh + g.kh),
    Wp: Math.max(g.left + g.w, (g.ow - 1) * g.sw + g.kw),
  };
}

/**
 * Chunks of at most `maxPixels` output pixels: whole images together where an image fits, else
 * row ranges of one image.
 */
export function chunks(g: ConvGeom, maxPixels: number): Chunk[] {
  const per = g.oh * g.ow;
  const out: Chunk[] = [];
  if (per <= maxPixels) {
    const ipc = Math.max(1, Math.floor(maxPixels / per));
    for (let b0 = 0; b0 < g.n; b0 += ipc)
      out.push({ b0, nb: Math.min(ipc, g.n - b0), y0: 0, y1: g.oh });
  } else {
    const rows = Math.max(1, Math.floor(maxPixels / g.ow));
    for (let b0 = 0; b0 < g.n; b0++) {
      for (let y0 = 0; y0 < g.oh; y0 += rows)
        out.push({ b0, nb: 1, y0, y1: Math.min(y0 + rows, g.oh) });
    }
  }
  return out;
}

export const chunkPixels = (g: ConvGeom, c: Chunk) => c.nb * (c.y1 - c.y0) * g.ow;

const key = (kind: string, g: ConvGeom, c: Chunk, ...rest: number[]) =>
  `${kind}:${g.n},${g.h},${g.w},${g.c},${g.kh},${g.kw},${g.sh},${g.sw},${g.oh},${g.ow},${g.top},${g.left}:${c.nb},${c.y0},${c.y1}:${rest}`;

/**
 * im2col rows of a chunk as runs: pixel by pixel, one entry per filter row i, 4 * the index in
 * the padded input (from the chunk's first image) where the row's kw taps start; the kw * c
 * floats from there are that pixel's im2col entries for row i (copyRuns).
 */
export function im2colRows(g: ConvGeom, c: Chunk): TableSpec {
  const { kh, sh, sw, ow } = g;
  const ch = g.c;
  const { Hp, Wp } = padded(g);
  return {
    key: key('rows', g, c),
    length: chunkPixels(g, c) * kh,
    build(tab, at) {
      let d = at;
      for (let b = 0; b < c.nb; b++) {
        for (let y = c.y0; y < c.y1; y++) {
          for (let x = 0; x < ow; x++) {
            for (let i = 0; i < kh; i++) tab[d++] = 4 * ((b * Hp + y * sh + i) * Wp + x * sw) * ch;
          }
        }
      }
    },
  };
}

/** im2col transposed: k rows (tap and channel), one column per pixel of the chunk. */
export function im2colCols(g: ConvGeom, c: Chunk): TableSpec {
  const { kh, kw, sh, sw, ow } = g;
  const ch = g.c;
  const { Hp, Wp } = padded(g);
  const m = chunkPixels(g, c);
  return {
    key: key('cols', g, c),
    length: kh * kw * ch * m,
    build(tab, at) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let q = 0; q < ch; q++) {
            let d = at + ((i * kw + j) * ch + q) * m;
            for (let b = 0; b < c.nb; b++) {
              for (let y = c.y0; y < c.y1; y++) {
                const row = ((b * Hp + y * sh + i) * Wp + j) * ch + q;
                for (let x = 0; x < ow; x++) tab[d++] = 4 * (row + x * sw * ch);
              }
            }
          }
        }
      }
    },
  };
}

/** Most columns one input element can receive: the taps of a window that can land on it. */
export const col2imFanIn = (g: ConvGeom) => Math.ceil(g.kh / g.sh) * Math.ceil(g.kw / g.sw);

/** The rows of each input image (of dx, unpadded) that a chunk's output rows reach. */
function col2imRows(g: ConvGeom, c: Chunk): [number, number] {
  return [Math.max(0, c.y0 * g.sh - g.top), Math.min(g.h, (c.y1 - 1) * g.sh - g.top + g.kh)];
}

/**
 * The part of dx (flat, in floats) a chunk's columns add to: from row lo of its first image to
 * row hi of its last, where [lo, hi) are the rows its output rows reach in each image.
 */
export function col2imBand(g: ConvGeom, c: Chunk): { start: number; length: number } {
  const [lo, hi] = col2imRows(g, c);
  const row = g.w * g.c;
  return { start: (c.b0 * g.h + lo) * row, length: ((c.nb - 1) * g.h + hi - lo) * row };
}

/**
 * Calls visit(mi, e, tap) for every (output pixel, input pixel) pair of a chunk where the window
 * of output pixel mi (in chunk order) covers input pixel e (counted in dx pixels from row `lo` of
 * the chunk's first image) with filter tap (i, j), tap = i * kw + j.
 */
function forEachCover(
  g: ConvGeom,
  c: Chunk,
  visit: (mi: number, e: number, tap: number) => void,
): void {
  const { h, w, kh, kw, sh, sw, ow, top, left } = g;
  const [lo] = col2imRows(g, c);
  let mi = 0;
  for (let b = 0; b < c.nb; b++) {
    for (let y = c.y0; y < c.y1; y++) {
      for (let x = 0; x < ow; x++, mi++) {
        for (let i = 0; i < kh; i++) {
          const yy = y * sh - top + i;
          if (yy < 0 || yy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const xx = x * sw - left + j;
            if (xx >= 0 && xx < w) visit(mi, (b * h + yy - lo) * w + xx, i * kw + j);
          }
        }
      }
    }
  }
}

/**
 * col2im of a chunk as a gather-sum over the rows col2imRows reaches in each of its images: for
 * each dx element there, r = fan-in entries, the byte offsets of the columns that cover it in the
 * GEMM result (element (pixel mi, kk) at mi * pixStep + kk * kkStep), padded with `zero`.
 */
export function col2imSum(
  g: ConvGeom,
  c: Chunk,
  pixStep: number,
  kkStep: number,
  zero: number,
): TableSpec {
  const ch = g.c;
  const r = col2imFanIn(g);
  const band = col2imBand(g, c).length;
  return {
    key: key('col2im', g, c, pixStep, kkStep, zero),
    length: band * r,
    build(tab, at) {
      tab.fill(zero, at, at + band * r);
      const count = new Uint8Array(band);
      forEachCover(g, c, (mi, pixel, tap) => {
        for (let q = 0; q < ch; q++) {
          const e = pixel * ch + q;
          tab[at + e * r + count[e]++] = 4 * (mi * pixStep + (tap * ch + q) * kkStep);
        }
      });
    },
  };
}

/**
 * col2im of a chunk by pixels (GEMM result [pixels, K] row-major, c a multiple of 4): for each dx
 * pixel of the band, r entries, the byte offsets of the column runs (c floats) that cover it,
 * padded with `zero` (the offset of c zero floats). Used with gatherSumRuns.
 */
export function col2imRuns(g: ConvGeom, c: Chunk, K: number, zero: number): TableSpec {
  const ch = g.c;
  const r = col2imFanIn(g);
  const pixels = col2imBand(g, c).length / ch;
  return {
    key: key('col2imRuns', g, c, K, zero),
    length: pixels * r,
    build(tab, at) {
      tab.fill(zero, at, at + pixels * r);
      const count = new Uint8Array(pixels);
      forEachCover(g, c, (mi, e, tap) => {
        tab[at + e * r + count[e]++] = 4 * (mi * K + tap * ch);
      });
    },
  };
}
