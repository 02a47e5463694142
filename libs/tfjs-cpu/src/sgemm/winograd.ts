/**
 * The three transforms of Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2015), as f32x4 functions of the sgemm module
 * (kernel.ts), vectorised over channels (NHWC: a pixel's channels are contiguous):
 *
 *   Y = A^T [ (G g G^T) . (B^T d B) ] A   for a 4x4 input tile d and a 3x3 filter g, giving
 *   a 2x2 output tile with 16 multiplies instead of 36. Summed over input channels, the
 *   elementwise product becomes 16 independent GEMMs, one per tile position xi = 4 i + j:
 *   M_xi [tiles, O] = V_xi [tiles, C] U_xi [C, O]. So a 3x3, stride 1 convolution does 2.25x
 *   fewer multiply-adds than im2col + GEMM, and its GEMM operands are 16/9 of im2col's size.
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * F(2x2, 3x3) rather than F(4x4, 3x3): its coefficients are 0, +-1 and 1/2, so the transforms
 * add float32 rounding of the same order as the convolution's own (F(4x4) multiplies errors by
 * its larger coefficients, and fidlab's features must match PyTorch's to 1e-4).
 *
 *   wgIn(src, dst, idx, rowBytes, cBytes, planeBytes, t0, t1): for tiles t in [t0, t1), the
 *     4x4 tile at src + idx[t] (pixels cBytes apart, rows rowBytes apart) becomes V_xi row t at
 *     dst + xi * planeBytes + t * cBytes.
 *   wgOut(src, dst, idx, planeBytes, mBytes, cBytes, rowBytes, t0, t1): row t of the 16 planes
 *     (src + xi * planeBytes + t * mBytes) becomes the 2x2 output tile at dst + (idx[t] & ~3),
 *     pixels cBytes apart and rows rowBytes apart; idx[t] & 1: the tile has a second row in the
 *     output, & 2: a second column (odd output sizes).
 *   wgFilter(src, dst, tapBytes, srcRow, dstRow, planeBytes, c0, c1): for input channels c in
 *     [c0, c1), the 3x3 taps (tapBytes apart) of filter row src + c * srcRow (srcRow bytes of
 *     output channels) become U_xi row c at dst + xi * planeBytes + c * dstRow.
 * All byte counts are multiples of 16 (channels a multiple of 4).
 */
import { wasmAsm as W } from '@fidlab/fid-core';

type Asm = ReturnType<typeof W.assembler>;
const v = (a: Asm, o: number) => [...a.simd(o), 4, 0]; // v128 load/store, align 16, offset 0
const ADD = W.F32X4_ADD;
const SUB = W.F32X4_SUB;

/** Locals header: i32 count, v128 count. */
const locals = (i32s: number, v128s: number) => [
  2,
  ...W.uleb(i32s),
  W.I32,
  ...W.uleb(v128s),
  W.V128,
];

/** x = a (op) b for two v128 locals, left on the stack. */
const bin = (a: Asm, x: number, y: number, o: number) => [...a.get(x), ...a.get(y), ...a.simd(o)];

export function wgInBody(): number[] {
  const [SRC, DST, IDX, RB, CB, XS, T0, T1] = [0, 1, 2, 3, 4, 5, 6, 7];
  let n = 8;
  const [P, E, S, D, Q, A] = [n++, n++, n++, n++, n++, n++];
  const i32s = n - 8;
  const Dv = Array.from({ length: 16 }, () => n++);
  const Tv = Array.from({ length: 16 }, () => n++);
  const a = W.assembler();
  const { get, set, tee, c32, op, w } = a;
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
      for (let i = 0; i < 4; i++) {
        w(get(S), get(Q), op(W.I32_ADD));
        for (let r = 0; r < i; r++) w(get(RB), op(W.I32_ADD));
        w(set(A));
        for (let j = 0; j < 4; j++) {
          if (j > 0) w(get(A), get(CB), op(W.I32_ADD), set(A));
          w(get(A), v(a, W.V128_LOAD), set(Dv[4 * i + j]));
        }
      }
      // T = B^T d, row by row (each row a vector over j)
      for (let j = 0; j < 4; j++) {
        const d = (i: number) => Dv[4 * i + j];
        w(bin(a, d(0), d(2), SUB), set(Tv[j]));
        w(bin(a, d(1), d(2), ADD), set(Tv[4 + j]));
        w(bin(a, d(2), d(1), SUB), set(Tv[8 + j]));
        w(bin(a, d(1), d(3), SUB), set(Tv[12 + j]));
      }
      // V = T B, stored plane by plane: V[i][j] at d + q + (4 i + j) * xs
      w(get(D), get(Q), op(W.I32_ADD), set(A));
      for (let i = 0; i < 4; i++) {
        const t = (j: number) => Tv[4 * i + j];
        const rows = [
          [t(0), t(2), SUB],
          [t(1), t(2), ADD],
          [t(2), t(1), SUB],
          [t(1), t(3), SUB],
        ];
        for (const [x, y, o] of rows) {
          w(get(A), bin(a, x, y, o), v(a, W.V128_STORE));
          w(get(A), get(XS), op(W.I32_ADD), set(A));
        }
      }
      w(get(Q), c32(16), op(W.I32_ADD), tee(Q), get(CB), op(W.I32_LT_U), op(W.BR_IF, 0));
    }
    w(op(W.END));
    w(get(D), get(CB), op(W.I32_ADD), set(D));
    w(get(P), c32(4), op(W.I32_ADD), tee(P), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END));
  return [...locals(i32s, 32), ...a.code];
}

export function wgOutBody(): number[] {
  const [SRC, DST, IDX, XS, MB, CB, RB, T0, T1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  let n = 9;
  const [P, E, S, D, FL, Q, A] = [n++, n++, n++, n++, n++, n++, n++];
  const i32s = n - 9;
  const Mv = Array.from({ length: 16 }, () => n++);
  const Uv = Array.from({ length: 8 }, () => n++);
  const a = W.assembler();
  const { get, set, tee, c32, op, w } = a;
  w(get(T0), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(P));
  w(get(T1), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(E));
  w(get(T0), get(MB), op(W.I32_MUL), get(SRC), op(W.I32_ADD), set(S));
  w(op(W.LOOP, W.VOID)); // tiles
  {
    w(get(P), op(W.I32_LOAD, 2, 0), tee(FL), c32(-4), op(W.I32_AND), get(DST), op(W.I32_ADD));
    w(set(D), get(FL), c32(3), op(W.I32_AND), set(FL), c32(0), set(Q));
    w(op(W.LOOP, W.VOID)); // 4 channels at a time
    {
      w(get(S), get(Q), op(W.I32_ADD), set(A));
      for (let xi = 0; xi < 16; xi++) {
        if (xi > 0) w(get(A), get(XS), op(W.I32_ADD), set(A));
        w(get(A), v(a, W.V128_LOAD), set(Mv[xi]));
      }
      // u = A^T M: u0j = m0j + m1j + m2j, u1j = m1j - m2j - m3j
      for (let j = 0; j < 4; j++) {
        const m = (i: number) => Mv[4 * i + j];
        w(bin(a, m(0), m(1), ADD), get(m(2)), a.simd(ADD), set(Uv[j]));
        w(bin(a, m(1), m(2), SUB), get(m(3)), a.simd(SUB), set(Uv[4 + j]));
      }
      // y = u A: y_r0 = u_r0 + u_r1 + u_r2, y_r1 = u_r1 - u_r2 - u_r3; stored where in the output
      const y = (r: number, col: number) => {
        const u = (j: number) => Uv[4 * r + j];
        return col === 0
          ? [...bin(a, u(0), u(1), ADD), ...get(u(2)), ...a.simd(ADD)]
          : [...bin(a, u(1), u(2), SUB), ...get(u(3)), ...a.simd(SUB)];
      };
      w(get(D), get(Q), op(W.I32_ADD), tee(A), y(0, 0), v(a, W.V128_STORE));
      w(get(FL), c32(2), op(W.I32_AND), op(W.IF, W.VOID));
      w(get(A), get(CB), op(W.I32_ADD), y(0, 1), v(a, W.V128_STORE));
      w(op(W.END));
      w(get(FL), c32(1), op(W.I32_AND), op(W.IF, W.VOID));
      {
        w(get(A), get(RB), op(W.I32_ADD), tee(A), y(1, 0), v(a, W.V128_STORE));
        w(get(FL), c32(2), op(W.I32_AND), op(W.IF, W.VOID));
        w(get(A), get(CB), op(W.I32_ADD), y(1, 1), v(a, W.V128_STORE));
        w(op(W.END));
      }
      w(op(W.END));
      w(get(Q), c32(16), op(W.I32_ADD), tee(Q), get(CB), op(W.I32_LT_U), op(W.BR_IF, 0));
    }
    w(op(W.END));
    w(get(S), get(MB), op(W.I32_ADD), set(S));
    w(get(P), c32(4), op(W.I32_ADD), tee(P), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END));
  return [...locals(i32s, 24), ...a.code];
}

export function wgFilterBody(): number[] {
  const [SRC, DST, TB, SR, DR, XS, C0, C1] = [0, 1, 2, 3, 4, 5, 6, 7];
  let n = 8;
  const [C, S, D, Q, A] = [n++, n++, n++, n++, n++];
  const i32s = n - 8;
  const Gv = Array.from({ length: 9 }, () => n++);
  const Tv = Array.from({ length: 12 }, () => n++);
  const HALF = n++;
  const a = W.assembler();
  const { get, set, tee, c32, op, w } = a;
  const half = new Uint8Array(new Float32Array([0.5, 0.5, 0.5, 0.5]).buffer);
  w(a.simd(W.V128_CONST), [...half], set(HALF));
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
        w(get(A), v(a, W.V128_LOAD), set(Gv[k]));
      }
      // x0, (x0 + x1 + x2) / 2, (x0 - x1 + x2) / 2, x2: G applied to three vectors
      const g4 = (x0: number[], x1: number[], x2: number[]) => [
        x0,
        [...x0, ...x1, ...a.simd(ADD), ...x2, ...a.simd(ADD), ...get(HALF), ...a.simd(W.F32X4_MUL)],
        [...x0, ...x1, ...a.simd(SUB), ...x2, ...a.simd(ADD), ...get(HALF), ...a.simd(W.F32X4_MUL)],
        x2,
      ];
      // T = G g (4 x 3): column j of g is taps (0, j), (1, j), (2, j)
      for (let j = 0; j < 3; j++) {
        const rows = g4(get(Gv[j]), get(Gv[3 + j]), get(Gv[6 + j]));
        rows.forEach((code, i) => w(code, set(Tv[3 * i + j])));
      }
      // U = T G^T, row i of T through G; U[i][j] at d + q + (4 i + j) * xs
      w(get(D), get(Q), op(W.I32_ADD), set(A));
      for (let i = 0; i < 4; i++) {
        const rows = g4(get(Tv[3 * i]), get(Tv[3 * i + 1]), get(Tv[3 * i + 2]));
        for (const code of rows) {
          w(get(A), code, v(a, W.V128_STORE));
          w(get(A), get(XS), op(W.I32_ADD), set(A));
        }
      }
      w(get(Q), c32(16), op(W.I32_ADD), tee(Q), get(SR), op(W.I32_LT_U), op(W.BR_IF, 0));
    }
    w(op(W.END));
    w(get(C), c32(1), op(W.I32_ADD), tee(C), get(C1), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END));
  return [...locals(i32s, 22), ...a.code];
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
