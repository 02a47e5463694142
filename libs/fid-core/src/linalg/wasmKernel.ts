/**
 * The GEMM micro-kernel of `ntKernel.ts` as a WebAssembly SIMD (f64x2) function, emitted byte by
 * byte below (this file is its source: no binary is checked in, no toolchain is needed). It runs
 * 2-4x faster than the scalar JavaScript kernel because each instruction multiplies or adds two
 * doubles and V8 compiles it without bounds checks inside the loop.
 *
 * tile(a, b, c, k, n, i0, i1, j0, j1, ps), all i32; a, b, c are byte offsets into the imported
 * shared memory `env.mem`:
 *   c[i * n + j] += sum_{p in [ps, k)} a[i * k + p] * b[j * k + p]   (i in [i0, i1), j in [j0, j1))
 * Contract (the caller pads with zeros to meet it): k, ps, i0, i1 multiples of 4; j0, j1 multiples
 * of 2; ps < k; i0 < i1; j0 < j1.
 * Loop order as the JS kernel: k in blocks of KC = 256, then 4 x 2 blocks of C (8 f64x2
 * accumulators + 6 operand vectors fit V8's 16 xmm registers; 4 x 4 would spill), then p two
 * lanes at a time, unrolled twice. Each accumulator holds the even-p and odd-p partial sums of one
 * output; they are added (lane 0 + lane 1) once per k block. Multiplies and adds are separate
 * (no FMA), as in JavaScript, so only the summation order differs from the JS kernel.
 */

import { wasmAsm } from '@fidlab/base';

const {
  BLOCK,
  LOOP,
  END,
  BR,
  BR_IF,
  F64_LOAD,
  F64_STORE,
  I32_LT_U,
  I32_GE_U,
  I32_ADD,
  I32_SUB,
  I32_MUL,
  I32_SHL,
  F64_ADD,
  SELECT,
  IF,
  I32_GT_U,
  F64_MUL,
  F64,
  V128_STORE,
  F64X2_SPLAT,
  VOID,
  V128_LOAD,
  V128_CONST,
  F64X2_EXTRACT_LANE,
  F64X2_ADD,
  F64X2_MUL,
  I32,
  V128,
  uleb,
  section,
  str,
  assembler,
} = wasmAsm;

const KC = 256;
/**
 * symv(a, ns, s, r0, e, v, q), all i32 (a, v, q byte offsets; ns the row stride of a in doubles):
 * for the rows i in [r0, e) (r0 >= s) of a symmetric matrix in lower row-major storage (j <= i),
 *   q[j] += a[i, j] v[i]  (s <= j < i),   q[i] += sum_{s <= j < i} a[i, j] v[j] + a[i, i] v[i],
 * i.e. the part of q += A[s.., s..] v that those rows hold, each stored entry read once. Pairs of j are
 * done as f64x2 (the row sum in two lanes, added at the row's end), an odd tail as a scalar.
 */
function symvBody(): number[] {
  const [A, NS, S, R0, E, VV, Q] = [0, 1, 2, 3, 4, 5, 6];
  let next = 7;
  const I = next++;
  const PA = next++; // &a[i, j]
  const PV = next++; // &v[j]
  const PQ = next++; // &q[j]
  const ROWEND = next++; // &a[i, i]
  const i32Count = next - 7;
  const VI = next++; // f64: v[i]
  const SC = next++; // f64: row sum
  const X = next++; // f64: tail a[i, j]
  const f64Count = 3;
  const ACC = next++;
  const VIS = next++;
  const XV = next++;
  const v128Count = 3;
  const { code, get, set, tee, c32, op, simd, w } = assembler();
  w(get(R0), set(I));
  w(op(BLOCK, VOID, LOOP, VOID));
  {
    w(get(I), get(E), op(I32_GE_U), op(BR_IF, 1));
    // pa = a + (i * ns + s) * 8; rowEnd = a + (i * ns + i) * 8
    w(get(A), get(I), get(NS), op(I32_MUL), c32(3), op(I32_SHL), op(I32_ADD), tee(PA));
    w(get(I), c32(3), op(I32_SHL), op(I32_ADD), set(ROWEND));
    w(get(PA), get(S), c32(3), op(I32_SHL), op(I32_ADD), set(PA));
    w(get(VV), get(S), c32(3), op(I32_SHL), op(I32_ADD), set(PV));
    w(get(Q), get(S), c32(3), op(I32_SHL), op(I32_ADD), set(PQ));
    w(get(VV), get(I), c32(3), op(I32_SHL), op(I32_ADD), op(F64_LOAD, 3, 0), tee(VI));
    w(simd(F64X2_SPLAT), set(VIS));
    w(simd(V128_CONST), op(...new Array<number>(16).fill(0)), set(ACC));
    w(op(BLOCK, VOID, LOOP, VOID)); // pairs while pa + 16 <= rowEnd
    {
      w(get(PA), c32(16), op(I32_ADD), get(ROWEND), op(I32_GT_U), op(BR_IF, 1));
      w(get(PA), simd(V128_LOAD), op(3, 0), set(XV));
      w(get(ACC), get(XV), get(PV), simd(V128_LOAD), op(3, 0), simd(F64X2_MUL), simd(F64X2_ADD));
      w(set(ACC));
      w(get(PQ), get(PQ), simd(V128_LOAD), op(3, 0), get(XV), get(VIS), simd(F64X2_MUL));
      w(simd(F64X2_ADD), simd(V128_STORE), op(3, 0));
      for (const p of [PA, PV, PQ]) w(get(p), c32(16), op(I32_ADD), set(p));
      w(op(BR, 0));
    }
    w(op(END, END));
    w(get(ACC), simd(F64X2_EXTRACT_LANE), op(0), get(ACC), simd(F64X2_EXTRACT_LANE), op(1));
    w(op(F64_ADD), set(SC));
    // odd tail: one more j < i
    w(get(PA), get(ROWEND), op(I32_LT_U), op(IF, VOID));
    {
      w(get(PA), op(F64_LOAD, 3, 0), set(X));
      w(get(SC), get(X), get(PV), op(F64_LOAD, 3, 0), op(F64_MUL), op(F64_ADD), set(SC));
      w(get(PQ), get(PQ), op(F64_LOAD, 3, 0), get(X), get(VI), op(F64_MUL), op(F64_ADD));
      w(op(F64_STORE, 3, 0));
      w(get(PQ), c32(8), op(I32_ADD), set(PQ));
    }
    w(op(END));
    // q[i] += sc + a[i, i] v[i]  (pq now points at q[i])
    w(get(PQ), get(PQ), op(F64_LOAD, 3, 0), get(SC), get(ROWEND), op(F64_LOAD, 3, 0), get(VI));
    w(op(F64_MUL), op(F64_ADD), op(F64_ADD), op(F64_STORE, 3, 0));
    w(get(I), c32(1), op(I32_ADD), set(I), op(BR, 0));
  }
  w(op(END, END, END));
  const locals = [3, ...uleb(i32Count), I32, ...uleb(f64Count), F64, ...uleb(v128Count), V128];
  return [...locals, ...code];
}

/** The tile function's body (locals + code). */
function tileBody(): number[] {
  // Parameters 0..9: a, b, c, k, n, i0, i1, j0, j1, ps.
  const [A, B, C, K, N, I0, I1, J0, J1, PS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  // i32 locals 10..: kb (row bytes), p0, p1, i, j, pa0..pa3, pb0, pb1, pend, o.
  let next = 10;
  const KB = next++;
  const P0 = next++;
  const P1 = next++;
  const I = next++;
  const J = next++;
  const PA = [next++, next++, next++, next++];
  const PB = [next++, next++];
  const PEND = next++;
  const O = next++;
  const i32Count = next - 10;
  // v128 locals: 8 accumulators (acc[2 r + c]), 4 x, 2 y.
  const ACC = Array.from({ length: 8 }, () => next++);
  const X = Array.from({ length: 4 }, () => next++);
  const Y = Array.from({ length: 2 }, () => next++);
  const v128Count = next - 10 - i32Count;

  const { code, get, set, tee, c32, op, simd, w } = assembler();

  // kb = k << 3; p0 = ps
  w(get(K), c32(3), op(I32_SHL), set(KB));
  w(get(PS), set(P0));
  w(op(BLOCK, VOID, LOOP, VOID)); // k blocks
  {
    // p1 = min(p0 + KC, k)
    w(get(P0), c32(KC), op(I32_ADD), tee(P1));
    w(get(K));
    w(get(P1), get(K), op(I32_LT_U));
    w(op(SELECT));
    w(set(P1));
    w(get(I0), set(I));
    w(op(LOOP, VOID)); // i (4 rows)
    {
      w(get(J0), set(J));
      w(op(LOOP, VOID)); // j (2 columns)
      {
        // pa0 = a + i * kb + p0 * 8; pa_r = pa_{r-1} + kb
        w(get(A), get(I), get(KB), op(I32_MUL), op(I32_ADD), get(P0), c32(3), op(I32_SHL));
        w(op(I32_ADD), set(PA[0]));
        for (let r = 1; r < 4; r++) w(get(PA[r - 1]), get(KB), op(I32_ADD), set(PA[r]));
        w(get(B), get(J), get(KB), op(I32_MUL), op(I32_ADD), get(P0), c32(3), op(I32_SHL));
        w(op(I32_ADD), set(PB[0]));
        w(get(PB[0]), get(KB), op(I32_ADD), set(PB[1]));
        // pend = pa0 + (p1 - p0) * 8
        w(get(PA[0]), get(P1), get(P0), op(I32_SUB), c32(3), op(I32_SHL), op(I32_ADD), set(PEND));
        for (const acc of ACC) w(simd(V128_CONST), op(...new Array<number>(16).fill(0)), set(acc));
        w(op(LOOP, VOID)); // p, 4 doubles per trip (two f64x2 steps)
        {
          for (const off of [0, 16]) {
            for (let r = 0; r < 4; r++)
              w(get(PA[r]), simd(V128_LOAD), op(4, ...uleb(off)), set(X[r]));
            for (let q = 0; q < 2; q++)
              w(get(PB[q]), simd(V128_LOAD), op(4, ...uleb(off)), set(Y[q]));
            for (let r = 0; r < 4; r++) {
              for (let q = 0; q < 2; q++) {
                w(get(ACC[2 * r + q]), get(X[r]), get(Y[q]), simd(F64X2_MUL), simd(F64X2_ADD));
                w(set(ACC[2 * r + q]));
              }
            }
          }
          for (const p of [...PA, ...PB]) w(get(p), c32(32), op(I32_ADD), set(p));
          w(get(PA[0]), get(PEND), op(I32_LT_U), op(BR_IF, 0));
        }
        w(op(END));
        // c[(i + r) * n + j + q] += lane0 + lane1
        for (let r = 0; r < 4; r++) {
          // o = c + ((i + r) * n + j) * 8
          w(get(C), get(I), c32(r), op(I32_ADD), get(N), op(I32_MUL), get(J), op(I32_ADD));
          w(c32(3), op(I32_SHL), op(I32_ADD), set(O));
          for (let q = 0; q < 2; q++) {
            w(get(O));
            w(get(O), op(F64_LOAD, 3, ...uleb(8 * q)));
            w(get(ACC[2 * r + q]), simd(F64X2_EXTRACT_LANE), op(0));
            w(get(ACC[2 * r + q]), simd(F64X2_EXTRACT_LANE), op(1));
            w(op(F64_ADD, F64_ADD));
            w(op(F64_STORE, 3, ...uleb(8 * q)));
          }
        }
        w(get(J), c32(2), op(I32_ADD), tee(J), get(J1), op(I32_LT_U), op(BR_IF, 0));
      }
      w(op(END));
      w(get(I), c32(4), op(I32_ADD), tee(I), get(I1), op(I32_LT_U), op(BR_IF, 0));
    }
    w(op(END));
    // p0 = p1; continue while p0 < k
    w(get(P1), tee(P0), get(K), op(I32_GE_U), op(BR_IF, 1));
    w(op(BR, 0));
  }
  w(op(END, END)); // loop, block
  w(op(END)); // function
  const locals = [2, ...uleb(i32Count), I32, ...uleb(v128Count), V128];
  return [...locals, ...code];
}

function emitModule(): Uint8Array {
  const type = section(1, [
    2,
    ...[0x60, 10, ...new Array<number>(10).fill(I32), 0],
    ...[0x60, 7, ...new Array<number>(7).fill(I32), 0],
  ]);
  // import env.mem: shared memory, min 1 page, max 65536 pages (4 GiB, the memory32 limit).
  const imp = section(2, [1, ...str('env'), ...str('mem'), 0x02, 0x03, ...uleb(1), ...uleb(65536)]);
  const func = section(3, [2, 0, 1]);
  const exp = section(7, [2, ...str('tile'), 0x00, 0, ...str('symv'), 0x00, 1]);
  const tile = tileBody();
  const symv = symvBody();
  const codeSec = section(10, [2, ...uleb(tile.length), ...tile, ...uleb(symv.length), ...symv]);
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...type,
    ...imp,
    ...func,
    ...exp,
    ...codeSec,
  ]);
}

/** The module's bytes (about 1 KB), built once at load. */
export const NT_WASM_BYTES: Uint8Array = emitModule();

/** Shape constraints of `tile` (the caller pads to them). */
export const WASM_PAD = { rows: 4, cols: 2, k: 4 } as const;

export type WasmTile = (
  a: number,
  b: number,
  c: number,
  k: number,
  n: number,
  i0: number,
  i1: number,
  j0: number,
  j1: number,
  ps: number,
) => void;

export type WasmSymv = (
  a: number,
  ns: number,
  s: number,
  r0: number,
  e: number,
  v: number,
  q: number,
) => void;

/** The parts of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
}
/** globalThis.WebAssembly, or undefined where the runtime has none. */
export const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
