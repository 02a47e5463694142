/**
 * The three transforms of Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2015), as f32x4 functions of the sgemm module
 * (kernel.ts), vectorised over channels (NHWC: a pixel's channels are contiguous). With
 * a = m + 2 and an a x a input tile d, a 3x3 filter g:
 *
 *   Y = A^T [ (G g G^T) . (B^T d B) ] A   is the m x m output tile, with a^2 multiplies instead
 *   of 9 m^2. Summed over input channels, the elementwise product becomes a^2 independent GEMMs,
 *   one per tile position xi = a i + j: M_xi [tiles, O] = V_xi [tiles, C] U_xi [C, O].
 *
 * Two sizes (the matrices below, interpolation points 0, +-1, (+-2,) infinity):
 *   F(2x2, 3x3): 16 multiplies for 4 outputs, 2.25x fewer than a direct convolution; its
 *     coefficients are 0, +-1 and 1/2, so it adds rounding of the convolution's own order.
 *   F(4x4, 3x3): 36 multiplies for 16 outputs, 4x fewer; its larger coefficients (up to 8 and
 *     1/24) scale rounding up by about 5x (2e-6 to 3e-6 relative to im2col + GEMM on VGG-sized
 *     layers, against 4e-7 to 6e-7 for F(2x2)). Bigger tiles would amplify it much more.
 *
 * Functions (all byte offsets and strides, multiples of 16; channels a multiple of 4):
 *   wgIn<m>(src, dst, idx, rowBytes, cBytes, planeBytes, t0, t1): for tiles t in [t0, t1), the
 *     a x a tile at src + idx[t] (pixels cBytes apart, rows rowBytes apart) becomes V_xi row t
 *     at dst + xi * planeBytes + t * cBytes.
 *   wgOut<m>(src, dst, idx, planeBytes, mBytes, cBytes, rowBytes, t0, t1): row t of the a^2
 *     planes (src + xi * planeBytes + t * mBytes) becomes the m x m output tile at
 *     dst + (idx[t] & ~15), pixels cBytes apart and rows rowBytes apart, of which only
 *     (idx[t] & 3) + 1 rows and ((idx[t] >> 2) & 3) + 1 columns are stored (the output's edge).
 *   wgFilter<m>(src, dst, tapBytes, srcRow, dstRow, planeBytes, c0, c1): for input channels c
 *     in [c0, c1), the 3x3 taps (tapBytes apart) of filter row src + c * srcRow (srcRow bytes of
 *     output channels) become U_xi row c at dst + xi * planeBytes + c * dstRow.
 */
import { wasmAsm as W } from '@fidlab/base';

type Matrix = number[][];

export interface WinogradTile {
  /** Output tile side. */
  m: number;
  BT: Matrix;
  G: Matrix;
  AT: Matrix;
}

export const F2X3: WinogradTile = {
  m: 2,
  BT: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  G: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

export const F4X3: WinogradTile = {
  m: 4,
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  G: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

type Asm = ReturnType<typeof W.assembler>;
const v = (a: Asm, o: number) => [...a.simd(o), 4, 0]; // v128 load/store, align 16, offset 0

/** A function body being emitted: its assembler and v128 locals, constants made once. */
class Body {
  readonly a = W.assembler();
  private next: number;
  private readonly consts = new Map<number, number>();
  private readonly init: number[] = [];

  constructor(
    private readonly params: number,
    private readonly i32s: number,
  ) {
    this.next = params + i32s;
  }

  v128s(n: number): number[] {
    return Array.from({ length: n }, () => this.next++);
  }

  /** A local holding c in every lane (set at the function's start). */
  private splat(c: number): number {
    let l = this.consts.get(c);
    if (l === undefined) {
      l = this.next++;
      this.consts.set(c, l);
      const bytes = new Uint8Array(new Float32Array([c, c, c, c]).buffer);
      this.init.push(...this.a.simd(W.V128_CONST), ...bytes, ...this.a.set(l));
    }
    return l;
  }

  /**
   * sum_j coeffs[j] * ins[j] on the stack, terms in order from the first positive one (rows of
   * only negative coefficients start with a multiply by the negative constant).
   */
  comb(coeffs: number[], ins: number[]): number[] {
    const { get, simd } = this.a;
    const terms = coeffs.map((c, j) => [c, ins[j]]).filter(([c]) => c !== 0);
    const first = Math.max(
      0,
      terms.findIndex(([c]) => c > 0),
    );
    const order = [terms[first], ...terms.filter((_, i) => i !== first)];
    const code: number[] = [];
    order.forEach(([c, x], i) => {
      const mag = i === 0 ? c : Math.abs(c);
      code.push(...get(x));
      if (mag !== 1) code.push(...get(this.splat(mag)), ...simd(W.F32X4_MUL));
      if (i > 0) code.push(...simd(c > 0 ? W.F32X4_ADD : W.F32X4_SUB));
    });
    return code;
  }

  bytes(): number[] {
    const v128s = this.next - this.params - this.i32s;
    const locals = [2, ...W.uleb(this.i32s), W.I32, ...W.uleb(v128s), W.V128];
    return [...locals, ...this.init, ...this.a.code];
  }
}

/** Stores a x a vectors plane by plane, from the address in local A (planes XS bytes apart). */
function storePlanes(
  b: Body,
  A: number,
  XS: number,
  al: number,
  value: (i: number, j: number) => number[],
) {
  const { get, set, op, w } = b.a;
  for (let i = 0; i < al; i++) {
    for (let j = 0; j < al; j++) {
      if (i + j > 0) w(get(A), get(XS), op(W.I32_ADD), set(A));
      w(get(A), value(i, j), v(b.a, W.V128_STORE));
    }
  }
}

/** The end of a loop body: x += step, and again while x < local `end`. */
function repeatWhileBelow(b: Body, x: number, step: number, end: number) {
  const { get, tee, c32, op, w } = b.a;
  w(get(x), c32(step), op(W.I32_ADD), tee(x), get(end), op(W.I32_LT_U), op(W.BR_IF, 0));
}

export function wgInBody(t: WinogradTile): number[] {
  const al = t.m + 2;
  const [SRC, DST, IDX, RB, CB, XS, T0, T1] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [P, E, S, D, Q, A] = [8, 9, 10, 11, 12, 13];
  const b = new Body(8, 6);
  const Dv = b.v128s(al * al);
  const Tv = b.v128s(al * al);
  const { get, set, c32, op, w } = b.a;
  // p = idx + t0 * 4; e = idx + t1 * 4; d = dst + t0 * cb
  w(get(T0), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(P));
  w(get(T1), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(E));
  w(get(T0), get(CB), op(W.I32_MUL), get(DST), op(W.I32_ADD), set(D));
  w(op(W.LOOP, W.VOID)); // tiles
  {
    w(get(SRC), get(P), op(W.I32_LOAD, 2, 0), op(W.I32_ADD), set(S), c32(0), set(Q));
    w(op(W.LOOP, W.VOID)); // 4 channels at a time
    {
      // d[i][j] at s + q + i * rb + j * cb
      w(get(S), get(Q), op(W.I32_ADD), set(A));
      for (let i = 0; i < al; i++) {
        if (i > 0) w(get(S), get(Q), op(W.I32_ADD), get(RB), c32(i), op(W.I32_MUL));
        if (i > 0) w(op(W.I32_ADD), set(A));
        for (let j = 0; j < al; j++) {
          if (j > 0) w(get(A), get(CB), op(W.I32_ADD), set(A));
          w(get(A), v(b.a, W.V128_LOAD), set(Dv[al * i + j]));
        }
      }
      // T = B^T d (column by column), then V = T B row by row, stored plane by plane
      for (let i = 0; i < al; i++) {
        for (let j = 0; j < al; j++) {
          const col = Dv.filter((_, k) => k % al === j);
          w(b.comb(t.BT[i], col), set(Tv[al * i + j]));
        }
      }
      w(get(D), get(Q), op(W.I32_ADD), set(A));
      storePlanes(b, A, XS, al, (i, j) => b.comb(t.BT[j], Tv.slice(al * i, al * i + al)));
      repeatWhileBelow(b, Q, 16, CB);
    }
    w(op(W.END));
    w(get(D), get(CB), op(W.I32_ADD), set(D));
    repeatWhileBelow(b, P, 4, E);
  }
  w(op(W.END), op(W.END));
  return b.bytes();
}

export function wgOutBody(t: WinogradTile): number[] {
  const { m } = t;
  const al = m + 2;
  const [SRC, DST, IDX, XS, MB, CB, RB, T0, T1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [P, E, S, D, ROWS, COLS, Q, A, O] = [9, 10, 11, 12, 13, 14, 15, 16, 17];
  const b = new Body(9, 9);
  const Mv = b.v128s(al * al);
  const Uv = b.v128s(m * al);
  const { get, set, tee, c32, op, w } = b.a;
  w(get(T0), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(P));
  w(get(T1), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(E));
  w(get(T0), get(MB), op(W.I32_MUL), get(SRC), op(W.I32_ADD), set(S));
  w(op(W.LOOP, W.VOID)); // tiles
  {
    // d = dst + (idx & ~15); rows = idx & 3 (one less than stored); cols = (idx >> 2) & 3
    w(get(P), op(W.I32_LOAD, 2, 0), tee(ROWS), c32(-16), op(W.I32_AND), get(DST));
    w(op(W.I32_ADD), set(D), get(ROWS), c32(2), op(W.I32_SHR_U), c32(3), op(W.I32_AND));
    w(set(COLS), get(ROWS), c32(3), op(W.I32_AND), set(ROWS), c32(0), set(Q));
    w(op(W.LOOP, W.VOID)); // 4 channels at a time
    {
      w(get(S), get(Q), op(W.I32_ADD), set(A));
      for (let xi = 0; xi < al * al; xi++) {
        if (xi > 0) w(get(A), get(XS), op(W.I32_ADD), set(A));
        w(get(A), v(b.a, W.V128_LOAD), set(Mv[xi]));
      }
      // u = A^T M (m x a), then y = u A (m x m), stored where the output has pixels
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < al; j++) {
          const col = Mv.filter((_, k) => k % al === j);
          w(b.comb(t.AT[i], col), set(Uv[al * i + j]));
        }
      }
      w(get(D), get(Q), op(W.I32_ADD), set(O));
      for (let i = 0; i < m; i++) {
        if (i > 0) w(get(ROWS), c32(i), op(W.I32_GE_U), op(W.IF, W.VOID));
        if (i > 0) w(get(O), get(RB), op(W.I32_ADD), set(O));
        w(get(O), set(A));
        const row = Uv.slice(al * i, al * i + al);
        for (let j = 0; j < m; j++) {
          if (j > 0) w(get(COLS), c32(j), op(W.I32_GE_U), op(W.IF, W.VOID));
          if (j > 0) w(get(A), get(CB), op(W.I32_ADD), set(A));
          w(get(A), b.comb(t.AT[j], row), v(b.a, W.V128_STORE));
        }
        for (let j = 1; j < m; j++) w(op(W.END));
      }
      for (let i = 1; i < m; i++) w(op(W.END));
      repeatWhileBelow(b, Q, 16, CB);
    }
    w(op(W.END));
    w(get(S), get(MB), op(W.I32_ADD), set(S));
    repeatWhileBelow(b, P, 4, E);
  }
  w(op(W.END), op(W.END));
  return b.bytes();
}

export function wgFilterBody(t: WinogradTile): number[] {
  const al = t.m + 2;
  const [SRC, DST, TB, SR, DR, XS, C0, C1] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [C, S, D, Q, A] = [8, 9, 10, 11, 12];
  const b = new Body(8, 5);
  const Gv = b.v128s(9);
  const Tv = b.v128s(al * 3);
  const { get, set, c32, op, w } = b.a;
  w(get(C0), set(C));
  w(op(W.LOOP, W.VOID)); // input channels
  {
    w(get(C), get(SR), op(W.I32_MUL), get(SRC), op(W.I32_ADD), set(S));
    w(get(C), get(DR), op(W.I32_MUL), get(DST), op(W.I32_ADD), set(D), c32(0), set(Q));
    w(op(W.LOOP, W.VOID)); // 4 output channels at a time
    {
      w(get(S), get(Q), op(W.I32_ADD), set(A));
      for (let k = 0; k < 9; k++) {
        if (k > 0) w(get(A), get(TB), op(W.I32_ADD), set(A));
        w(get(A), v(b.a, W.V128_LOAD), set(Gv[k]));
      }
      // T = G g (a x 3): column j of g is taps (0, j), (1, j), (2, j); then U = T G^T
      for (let i = 0; i < al; i++) {
        for (let j = 0; j < 3; j++)
          w(b.comb(t.G[i], [Gv[j], Gv[3 + j], Gv[6 + j]]), set(Tv[3 * i + j]));
      }
      w(get(D), get(Q), op(W.I32_ADD), set(A));
      storePlanes(b, A, XS, al, (i, j) => b.comb(t.G[j], Tv.slice(3 * i, 3 * i + 3)));
      repeatWhileBelow(b, Q, 16, SR);
    }
    w(op(W.END));
    repeatWhileBelow(b, C, 1, C1);
  }
  w(op(W.END), op(W.END));
  return b.bytes();
}

export type WgIn = (
  src: number,
  dst: number,
  idx: number,
  rowBytes: number,
  cBytes: number,
  planeBytes: number,
  t0: number,
  t1: number,
) => void;
export type WgOut = (
  src: number,
  dst: number,
  idx: number,
  planeBytes: number,
  mBytes: number,
  cBytes: number,
  rowBytes: number,
  t0: number,
  t1: number,
) => void;
export type WgFilter = (
  src: number,
  dst: number,
  tapBytes: number,
  srcRow: number,
  dstRow: number,
  planeBytes: number,
  c0: number,
  c1: number,
) => void;
