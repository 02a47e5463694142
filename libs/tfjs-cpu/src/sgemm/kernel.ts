/**
 * The float32 GEMM micro-kernel of the threaded sgemm (and the gathers that lay out its operands), as a WebAssembly SIMD (f32x4) function
 * emitted byte by byte (fid-core's wasmAsm), compiled once and instantiated in every thread on the
 * same shared memory:
 *
 *   block(a, b, c, lda, ldb, ldc, p0, p1, i0, i1, j0, j1, add), all i32, a/b/c byte offsets:
 *     C[i, j] (= or +=) sum_{p in [p0, p1)} A[i * lda + p] * B[p * ldb + j]
 *     for i in [i0, i1), j in [j0, j1); `add` != 0 accumulates into C.
 *   Contract (the caller pads to it): i1 - i0 > 0 a multiple of 4, j1 - j0 > 0 a multiple of 8,
 *   p1 > p0.
 *
 * Register blocking 4 rows x 8 columns: per p, two f32x4 loads of B's row, one load-and-splat of
 * A per row, 8 multiplies and 8 adds into 8 accumulators (11 live vectors: no spills on x64's 16
 * xmm registers). Multiplies and adds are separate instructions (wasm SIMD has no FMA outside
 * relaxed SIMD), so each output is the float32 sum in p order, as a scalar loop would give.
 */
import { wasmAsm as W } from '@fidlab/base';
import { F2X3, F4X3, wgFilterBody, wgInBody, wgOutBody } from './winograd.js';

const { F32X4_ADD, F32X4_MUL, V128_LOAD, V128_LOAD32_SPLAT, V128_STORE, V128_CONST } = W;

/** The shape padding `block` needs. */
export const SGEMM_PAD = { rows: 4, cols: 8 } as const;

function blockBody(): number[] {
  const [A, B, C, LDA, LDB, LDC, P0, P1, I0, I1, J0, J1, ADD] = Array.from(
    { length: 13 },
    (_, i) => i,
  );
  let next = 13;
  const I = next++;
  const J = next++;
  const PA = [next++, next++, next++, next++];
  const PB = next++;
  const PEND = next++;
  const LDA4 = next++;
  const LDB4 = next++;
  const O = next++;
  const i32Count = next - 13;
  const ACC = Array.from({ length: 8 }, () => next++);
  const B0 = next++;
  const B1 = next++;
  const S = next++;
  const v128Count = next - 13 - i32Count;

  const { code, get, set, tee, c32, op, simd, w } = W.assembler();
  const mem = (align: number, offset: number) => [align, ...W.uleb(offset)];

  // lda4 = lda * 4; ldb4 = ldb * 4; i = i0
  w(get(LDA), c32(2), op(W.I32_SHL), set(LDA4));
  w(get(LDB), c32(2), op(W.I32_SHL), set(LDB4));
  w(get(I0), set(I));
  w(op(W.BLOCK, W.VOID), op(W.LOOP, W.VOID)); // rows, 4 at a time
  {
    w(get(J0), set(J));
    w(op(W.BLOCK, W.VOID), op(W.LOOP, W.VOID)); // columns, 8 at a time
    {
      // pa0 = a + (i * lda + p0) * 4; pa_r = pa_{r-1} + lda4
      w(get(I), get(LDA), op(W.I32_MUL), get(P0), op(W.I32_ADD), c32(2), op(W.I32_SHL));
      w(get(A), op(W.I32_ADD), tee(PA[0]));
      for (let r = 1; r < 4; r++) w(get(LDA4), op(W.I32_ADD), tee(PA[r]));
      w(op(W.DROP));
      // pend = pa0 + (p1 - p0) * 4
      w(get(PA[0]), get(P1), get(P0), op(W.I32_SUB), c32(2), op(W.I32_SHL), op(W.I32_ADD));
      w(set(PEND));
      // pb = b + (p0 * ldb + j) * 4
      w(get(P0), get(LDB), op(W.I32_MUL), get(J), op(W.I32_ADD), c32(2), op(W.I32_SHL));
      w(get(B), op(W.I32_ADD), set(PB));
      for (const acc of ACC) w(simd(V128_CONST), op(...new Array<number>(16).fill(0)), set(acc));
      w(op(W.LOOP, W.VOID)); // p
      {
        w(get(PB), simd(V128_LOAD), mem(0, 0), set(B0));
        w(get(PB), simd(V128_LOAD), mem(0, 16), set(B1));
        for (let r = 0; r < 4; r++) {
          w(get(PA[r]), simd(V128_LOAD32_SPLAT), mem(2, 0), set(S));
          for (let q = 0; q < 2; q++) {
            const acc = ACC[2 * r + q];
            w(get(acc), get(S), get(q === 0 ? B0 : B1), simd(F32X4_MUL), simd(F32X4_ADD), set(acc));
          }
        }
        for (const p of PA) w(get(p), c32(4), op(W.I32_ADD), set(p));
        w(get(PB), get(LDB4), op(W.I32_ADD), set(PB));
        w(get(PA[0]), get(PEND), op(W.I32_LT_U), op(W.BR_IF, 0));
      }
      w(op(W.END));
      // c[(i + r) * ldc + j + 4 q] (+)= acc
      for (let r = 0; r < 4; r++) {
        w(get(I), c32(r), op(W.I32_ADD), get(LDC), op(W.I32_MUL), get(J), op(W.I32_ADD));
        w(c32(2), op(W.I32_SHL), get(C), op(W.I32_ADD), set(O));
        for (let q = 0; q < 2; q++) {
          const acc = ACC[2 * r + q];
          w(get(ADD), op(W.IF, W.VOID));
          w(get(O), get(O), simd(V128_LOAD), mem(0, 16 * q), get(acc), simd(F32X4_ADD));
          w(simd(V128_STORE), mem(0, 16 * q));
          w(op(W.ELSE));
          w(get(O), get(acc), simd(V128_STORE), mem(0, 16 * q));
          w(op(W.END));
        }
      }
      // j += 8; continue while j < j1
      w(get(J), c32(8), op(W.I32_ADD), tee(J), get(J1), op(W.I32_LT_U), op(W.BR_IF, 0));
    }
    w(op(W.END), op(W.END));
    w(get(I), c32(4), op(W.I32_ADD), tee(I), get(I1), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END), op(W.END));
  const locals = [2, ...W.uleb(i32Count), W.I32, ...W.uleb(v128Count), W.V128];
  return [...locals, ...code];
}

/**
 * gather(dst, src, idx, t0, t1): dst[t] = *(src + idx[t]) for t in [t0, t1), t1 > t0; dst, src,
 * idx byte offsets, idx[t] a byte offset from src. im2col in all its layouts is one gather with a
 * precomputed index (zero padding: an index to a zero float).
 */
function gatherBody(): number[] {
  const [DST, SRC, IDX, T0, T1] = [0, 1, 2, 3, 4];
  const [P, E, D] = [5, 6, 7];
  const { code, get, set, tee, c32, op, w } = W.assembler();
  const f32 = (o: number) => [o, 2, 0];
  w(get(T0), c32(2), op(W.I32_SHL), tee(D), get(IDX), op(W.I32_ADD), set(P));
  w(get(T1), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(E));
  w(get(D), get(DST), op(W.I32_ADD), set(D));
  w(op(W.LOOP, W.VOID));
  w(get(D), get(SRC), get(P), f32(W.I32_LOAD), op(W.I32_ADD), f32(W.F32_LOAD), f32(W.F32_STORE));
  w(get(D), c32(4), op(W.I32_ADD), set(D));
  w(get(P), c32(4), op(W.I32_ADD), tee(P), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  w(op(W.END), op(W.END));
  return [1, 3, W.I32, ...code];
}

/**
 * gatherSum(dst, src, idx, r, t0, t1): dst[t] += sum_{u < r} *(src + idx[t * r + u]) for t in
 * [t0, t1), t1 > t0, r > 0. col2im as a gather: each output element sums the (at most r) columns
 * that cover it, so threads can share the output without write conflicts.
 */
function gatherSumBody(): number[] {
  const [DST, SRC, IDX, R, T0, T1] = [0, 1, 2, 3, 4, 5];
  const [P, E, D, U] = [6, 7, 8, 9];
  const ACC = 10;
  const { code, get, set, tee, c32, op, w } = W.assembler();
  const f32 = (o: number) => [o, 2, 0];
  // p = idx + t0 * r * 4; d = dst + t0 * 4; e = dst + t1 * 4
  w(get(T0), get(R), op(W.I32_MUL), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(P));
  w(get(T0), c32(2), op(W.I32_SHL), get(DST), op(W.I32_ADD), set(D));
  w(get(T1), c32(2), op(W.I32_SHL), get(DST), op(W.I32_ADD), set(E));
  w(op(W.LOOP, W.VOID));
  {
    w(get(D), f32(W.F32_LOAD), set(ACC), get(R), set(U));
    w(op(W.LOOP, W.VOID));
    w(get(ACC), get(SRC), get(P), f32(W.I32_LOAD), op(W.I32_ADD), f32(W.F32_LOAD));
    w(op(W.F32_ADD), set(ACC));
    w(get(P), c32(4), op(W.I32_ADD), set(P));
    w(get(U), c32(1), op(W.I32_SUB), tee(U), op(W.BR_IF, 0));
    w(op(W.END));
    w(get(D), get(ACC), f32(W.F32_STORE));
    w(get(D), c32(4), op(W.I32_ADD), tee(D), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END));
  return [2, 4, W.I32, 1, W.F32, ...code];
}

/**
 * copyRuns(dst, src, idx, len, t0, t1): run t (len bytes) of dst = the len bytes at src + idx[t],
 * for t in [t0, t1), t1 > t0. im2col rows as runs: the kw taps of one filter row are kw * c
 * contiguous floats of the (padded) input, copied by memory.copy.
 */
function copyRunsBody(): number[] {
  const [DST, SRC, IDX, LEN, T0, T1] = [0, 1, 2, 3, 4, 5];
  const [P, E, D, LAST, S, Q] = [6, 7, 8, 9, 10, 11];
  const { code, get, set, tee, c32, op, simd, w } = W.assembler();
  const v = (o: number) => [...simd(o), 0, 0];
  w(get(T0), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(P));
  w(get(T1), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(E));
  w(get(T0), get(LEN), op(W.I32_MUL), get(DST), op(W.I32_ADD), set(D));
  // Short runs (a 3-channel input's filter row is 36 bytes): whole f32x4 vectors, the last one
  // spilling up to 12 bytes into the next run, which is written after it; memory.copy's call
  // costs more than such a copy. The range's last run is copied exactly (below): the next run
  // may belong to another thread.
  w(get(LEN), c32(64), op(W.I32_LT_U), op(W.IF, W.VOID));
  {
    w(get(E), c32(4), op(W.I32_SUB), set(LAST));
    w(op(W.BLOCK, W.VOID), op(W.LOOP, W.VOID));
    w(get(P), get(LAST), op(W.I32_GE_U), op(W.BR_IF, 1));
    w(get(SRC), get(P), op(W.I32_LOAD, 2, 0), op(W.I32_ADD), set(S), c32(0), set(Q));
    w(op(W.LOOP, W.VOID));
    w(get(D), get(Q), op(W.I32_ADD), get(S), get(Q), op(W.I32_ADD), v(W.V128_LOAD));
    w(v(W.V128_STORE));
    w(get(Q), c32(16), op(W.I32_ADD), tee(Q), get(LEN), op(W.I32_LT_U), op(W.BR_IF, 0));
    w(op(W.END));
    w(get(D), get(LEN), op(W.I32_ADD), set(D), get(P), c32(4), op(W.I32_ADD), set(P));
    w(op(W.BR, 0), op(W.END), op(W.END));
  }
  w(op(W.END));
  // Exact copies: every run when runs are long, the last one otherwise.
  w(op(W.LOOP, W.VOID));
  w(get(D), get(SRC), get(P), op(W.I32_LOAD, 2, 0), op(W.I32_ADD), get(LEN), op(...W.MEMORY_COPY));
  w(get(D), get(LEN), op(W.I32_ADD), set(D));
  w(get(P), c32(4), op(W.I32_ADD), tee(P), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  w(op(W.END), op(W.END));
  return [1, 6, W.I32, ...code];
}

/**
 * gatherSumRuns(dst, src, idx, r, len, t0, t1): run t of dst (len bytes, a multiple of 16) +=
 * the r runs at src + idx[t * r + u], f32x4 at a time. col2im by pixels: a pixel's c channels are
 * contiguous in dx and in each column that covers it.
 */
function gatherSumRunsBody(): number[] {
  const [DST, SRC, IDX, R, LEN, T0, T1] = [0, 1, 2, 3, 4, 5, 6];
  const [P, PP, D, E, Q, U] = [7, 8, 9, 10, 11, 12];
  const ACC = 13;
  const { code, get, set, tee, c32, op, simd, w } = W.assembler();
  const v = (o: number, off = 0) => [...simd(o), 0, ...W.uleb(off)];
  // p = idx + t0 * r * 4; d = dst + t0 * len; e = dst + t1 * len
  w(get(T0), get(R), op(W.I32_MUL), c32(2), op(W.I32_SHL), get(IDX), op(W.I32_ADD), set(P));
  w(get(T0), get(LEN), op(W.I32_MUL), get(DST), op(W.I32_ADD), set(D));
  w(get(T1), get(LEN), op(W.I32_MUL), get(DST), op(W.I32_ADD), set(E));
  w(op(W.LOOP, W.VOID)); // runs
  {
    w(c32(0), set(Q));
    w(op(W.LOOP, W.VOID)); // 4 floats at a time
    {
      w(get(D), get(Q), op(W.I32_ADD), v(W.V128_LOAD), set(ACC));
      w(get(P), set(PP), get(R), set(U));
      w(op(W.LOOP, W.VOID)); // the r sources
      w(get(ACC), get(SRC), get(PP), op(W.I32_LOAD, 2, 0), op(W.I32_ADD), get(Q), op(W.I32_ADD));
      w(v(W.V128_LOAD), simd(W.F32X4_ADD), set(ACC));
      w(get(PP), c32(4), op(W.I32_ADD), set(PP));
      w(get(U), c32(1), op(W.I32_SUB), tee(U), op(W.BR_IF, 0));
      w(op(W.END));
      w(get(D), get(Q), op(W.I32_ADD), get(ACC), v(W.V128_STORE));
      w(get(Q), c32(16), op(W.I32_ADD), tee(Q), get(LEN), op(W.I32_LT_U), op(W.BR_IF, 0));
    }
    w(op(W.END));
    w(get(P), get(R), c32(2), op(W.I32_SHL), op(W.I32_ADD), set(P));
    w(get(D), get(LEN), op(W.I32_ADD), tee(D), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END));
  return [2, 6, W.I32, 1, W.V128, ...code];
}

function emitModule(): Uint8Array {
  const type = W.section(1, [
    6,
    ...[13, 5, 6, 7, 8, 9].flatMap((n) => [0x60, n, ...new Array<number>(n).fill(W.I32), 0]),
  ]);
  // import env.mem: shared memory, min 1 page, max 65536 pages (4 GiB, the memory32 limit).
  const imp = W.section(2, [
    1,
    ...W.str('env'),
    ...W.str('mem'),
    0x02,
    0x03,
    ...W.uleb(1),
    ...W.uleb(65536),
  ]);
  const func = W.section(3, [11, 0, 1, 2, 2, 3, 4, 5, 4, 4, 5, 4]);
  const exp = W.section(7, [
    11,
    ...[...W.str('block'), 0x00, 0],
    ...[...W.str('gather'), 0x00, 1],
    ...[...W.str('gatherSum'), 0x00, 2],
    ...[...W.str('copyRuns'), 0x00, 3],
    ...[...W.str('gatherSumRuns'), 0x00, 4],
    ...[...W.str('wgIn2'), 0x00, 5],
    ...[...W.str('wgOut2'), 0x00, 6],
    ...[...W.str('wgFilter2'), 0x00, 7],
    ...[...W.str('wgIn4'), 0x00, 8],
    ...[...W.str('wgOut4'), 0x00, 9],
    ...[...W.str('wgFilter4'), 0x00, 10],
  ]);
  const bodies = [
    blockBody(),
    gatherBody(),
    gatherSumBody(),
    copyRunsBody(),
    gatherSumRunsBody(),
    ...[F2X3, F4X3].flatMap((t) => [wgInBody(t), wgOutBody(t), wgFilterBody(t)]),
  ];
  const codeSec = W.section(10, [
    bodies.length,
    ...bodies.flatMap((b) => [...W.uleb(b.length), ...b]),
  ]);
  return Uint8Array.from([...W.MODULE_HEADER, ...type, ...imp, ...func, ...exp, ...codeSec]);
}

/** The module's bytes (well under 1 KB), built once at load. */
export const SGEMM_WASM_BYTES: Uint8Array = emitModule();

export type SgemmBlock = (
  a: number,
  b: number,
  c: number,
  lda: number,
  ldb: number,
  ldc: number,
  p0: number,
  p1: number,
  i0: number,
  i1: number,
  j0: number,
  j1: number,
  add: number,
) => void;
export type Gather = (dst: number, src: number, idx: number, t0: number, t1: number) => void;
export type GatherSum = (
  dst: number,
  src: number,
  idx: number,
  r: number,
  t0: number,
  t1: number,
) => void;
export type CopyRuns = (
  dst: number,
  src: number,
  idx: number,
  len: number,
  t0: number,
  t1: number,
) => void;
export type GatherSumRuns = (
  dst: number,
  src: number,
  idx: number,
  r: number,
  len: number,
  t0: number,
  t1: number,
) => void;
