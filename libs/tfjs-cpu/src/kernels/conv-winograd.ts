// 3x3, stride 1 convolutions by Winograd's F(m x m, 3x3) (../sgemm/winograd.ts), m = 4 or 2:
// the input cut into overlapping (m + 2)^2 tiles (m x m outputs each), each tile and the filter
// transformed, (m + 2)^2 GEMMs on the threaded sgemm (one per tile position), the products
// transformed back into output tiles. 4x (m = 4) or 2.25x (m = 2) fewer multiply-adds than
// im2col + GEMM (conv-gemm.ts): VGG-Face is all such convolutions, InceptionV3 has several.
// Tiles are cut into chunks so that the transformed tiles stay under convGemmTuning.chunkFloats.
import { SGEMM_PAD } from '../sgemm/kernel.js';
import { sgemm } from '../sgemm/threads.js';
import { convGemmTuning, copyPadded, layout, up, type ConvGeom } from './conv-gemm.js';
import { indexCache } from './conv-index.js';

/** Whether convForwardWinograd computes this convolution (channels in f32x4 lanes). */
export function winogradFits(g: ConvGeom): boolean {
  return (
    convGemmTuning.winograd !== 0 &&
    g.kh === 3 &&
    g.kw === 3 &&
    g.sh === 1 &&
    g.sw === 1 &&
    g.c % 4 === 0 &&
    g.o % 4 === 0
  );
}

/**
 * Tile tables (one int32 per tile each, byte offsets): where each tile's input starts in the
 * padded input, and where its m x m output starts, with (rows - 1) | (columns - 1) << 2 in the
 * low bits: how much of the tile the output has (less at the last row and column of tiles).
 */
function tileTables(g: ConvGeom, m: number, Hp: number, Wp: number) {
  const th = Math.ceil(g.oh / m);
  const tw = Math.ceil(g.ow / m);
  const tiles = g.n * th * tw;
  return {
    key: `wg${m}:${g.n},${g.oh},${g.ow},${g.c},${g.o},${Hp},${Wp}`,
    length: 2 * tiles,
    build(tab: Int32Array, at: number) {
      let t = at;
      for (let b = 0; b < g.n; b++) {
        for (let ty = 0; ty < th; ty++) {
          for (let tx = 0; tx < tw; tx++, t++) {
            const [y, x] = [m * ty, m * tx];
            tab[t] = 4 * ((b * Hp + y) * Wp + x) * g.c;
            const flags = (Math.min(m, g.oh - y) - 1) | ((Math.min(m, g.ow - x) - 1) << 2);
            tab[t + tiles] = (4 * ((b * g.oh + y) * g.ow + x) * g.o) | flags;
          }
        }
      }
    },
  };
}

/** y[n, oh, ow, o] = conv(x, filter) for a convolution winogradFits accepts. */
export function convForwardWinograd(
  g: ConvGeom,
  x: Float32Array,
  filter: Float32Array,
  out: Float32Array,
): void {
  const { n, h, w, c, o, oh, ow } = g;
  const m = convGemmTuning.winograd === 2 ? 2 : 4;
  const al = m + 2;
  const xis = al * al;
  const th = Math.ceil(oh / m);
  const tw = Math.ceil(ow / m);
  // Padded so that every tile is whole: rows and columns past the image are zeros.
  const Hp = m * th + 2;
  const Wp = m * tw + 2;
  // The padded input and the output of the whole batch sit in the arena: past
  // convGemmTuning.batchFloats, groups of images one after another (big batches, big images).
  const perImage = Hp * Wp * c + oh * ow * o;
  const group = Math.max(1, Math.floor(convGemmTuning.batchFloats / perImage));
  if (n > group) {
    for (let b0 = 0; b0 < n; b0 += group) {
      const nb = Math.min(group, n - b0);
      const xs = x.subarray(b0 * h * w * c, (b0 + nb) * h * w * c);
      const ys = out.subarray(b0 * oh * ow * o, (b0 + nb) * oh * ow * o);
      convForwardWinograd({ ...g, n: nb }, xs, filter, ys);
    }
    return;
  }
  const tiles = n * th * tw;
  const N = up(o, SGEMM_PAD.cols);
  const perTile = xis * (c + N);
  const rows = Math.min(
    up(tiles, SGEMM_PAD.rows),
    Math.max(SGEMM_PAD.rows, Math.floor(convGemmTuning.chunkFloats / perTile / 4) * 4),
  );
  const [tab] = indexCache.place([tileTables(g, m, Hp, Wp)]);
  const {
    at: [X, F, U, V, M, Y],
    end,
  } = layout(indexCache.end, [
    n * Hp * Wp * c,
    9 * c * o,
    xis * c * N,
    xis * rows * c,
    xis * rows * N,
    out.length,
  ]);
  const gm = sgemm();
  gm.reserve(end);
  const f = gm.f32();
  copyPadded(g, x, f, X, { Hp, Wp });
  f.set(filter.subarray(0, 9 * c * o), F);
  if (N !== o) f.fill(0, U, U + xis * c * N);
  const big = (floats: number) => floats >= convGemmTuning.parallelGather;
  gm.wgFilter(m, U, F, 4 * c * o, 4 * o, 4 * N, 4 * c * N, c, big(9 * c * o));
  for (let t0 = 0; t0 < tiles; t0 += rows) {
    const mt = Math.min(rows, tiles - t0);
    const R = up(mt, SGEMM_PAD.rows);
    gm.wgIn(m, V, X, tab + t0, 4 * Wp * c, 4 * c, 4 * R * c, mt, big(xis * mt * c));
    const parallel = 2 * R * N * c >= convGemmTuning.parallelFlops;
    for (let xi = 0; xi < xis; xi++) {
      const job = { a: V + xi * R * c, b: U + xi * c * N, c: M + xi * R * N };
      gm.gemm({ ...job, lda: c, ldb: N, ldc: N, m: R, n: N, k: c }, parallel);
    }
    const outArgs = [4 * R * N, 4 * N, 4 * o, 4 * ow * o, mt] as const;
    gm.wgOut(m, Y, M, tab + tiles + t0, ...outArgs, big(xis * mt * o));
  }
  out.set(f.subarray(Y, Y + out.length));
}

/**
 * Whether convBackpropInputWinograd computes this input gradient: as for the forward pass, and
 * no side padded by more than 2 (the gradient's own padding, 2 minus it, must not be negative).
 */
export function winogradBackpropFits(g: ConvGeom): boolean {
  const bottom = g.oh + 2 - g.h - g.top;
  const right = g.ow + 2 - g.w - g.left;
  return winogradFits(g) && Math.max(g.top, g.left, bottom, right) <= 2;
}

/** The rotated filter's buffer, kept between calls (a new 9 MB array per call costs page faults). */
let rotated = new Float32Array(0);

/**
 * dx[n, h, w, c] from dy for a convolution winogradBackpropFits accepts (also the forward pass of a 3x3,
 * stride 1 transposed convolution): the input gradient of a 3x3, stride 1 convolution is itself
 * one, of dy padded by 2 - top and 2 - left, with the filter turned by 180 degrees and its input
 * and output channels swapped.
 */
export function convBackpropInputWinograd(
  g: ConvGeom,
  dy: Float32Array,
  filter: Float32Array,
  dx: Float32Array,
): void {
  const { c, o } = g;
  if (rotated.length < 9 * c * o) rotated = new Float32Array(9 * c * o);
  for (let t = 0; t < 9; t++) {
    const src = (8 - t) * c * o;
    const dst = t * o * c;
    for (let ci = 0; ci < c; ci++) {
      for (let oi = 0, s = src + ci * o; oi < o; oi++, s++) rotated[dst + oi * c + ci] = filter[s];
    }
  }
  const back: ConvGeom = {
    ...g,
    ...{ h: g.oh, w: g.ow, c: o, o: c, oh: g.h, ow: g.w },
    ...{ top: 2 - g.top, left: 2 - g.left },
  };
  convForwardWinograd(back, dy, rotated, dx);
}
