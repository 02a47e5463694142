/**
 * A minimal WebAssembly binary assembler: opcodes, LEB128 integers, sections and a code buffer.
 * fidlab emits its few SIMD kernels byte by byte from TypeScript at load time (no toolchain, no
 * checked-in binary); the kernels themselves live beside their callers.
 */

// Opcodes (WebAssembly core 2.0 + fixed-width SIMD).
export const BLOCK = 0x02;
export const LOOP = 0x03;
export const END = 0x0b;
export const BR = 0x0c;
export const BR_IF = 0x0d;
export const LOCAL_GET = 0x20;
export const LOCAL_SET = 0x21;
export const LOCAL_TEE = 0x22;
export const F64_LOAD = 0x2b;
export const F64_STORE = 0x39;
export const I32_CONST = 0x41;
export const I32_LT_U = 0x49;
export const I32_GE_U = 0x4f;
export const I32_ADD = 0x6a;
export const I32_SUB = 0x6b;
export const I32_MUL = 0x6c;
export const I32_SHL = 0x74;
export const I32_AND = 0x71;
export const I32_SHR_U = 0x76;
export const F64_ADD = 0xa0;
export const SELECT = 0x1b;
export const IF = 0x04;
export const ELSE = 0x05;
export const DROP = 0x1a;
export const I32_GT_U = 0x4b;
export const F64_MUL = 0xa2;
export const F64 = 0x7c;
export const V128_STORE = 0x0b;
export const F64X2_SPLAT = 0x14;
export const VOID = 0x40;
export const SIMD = 0xfd;
export const V128_LOAD = 0x00;
export const V128_CONST = 0x0c;
export const F64X2_EXTRACT_LANE = 0x21;
export const F64X2_ADD = 0xf0;
export const F64X2_MUL = 0xf2;
export const I32 = 0x7f;
export const V128 = 0x7b;

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

export function str(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
}

/** Instruction builders (each returns its bytes) and w(), which appends them to `code`. */
export function assembler() {
  const code: number[] = [];
  const get = (l: number) => [LOCAL_GET, ...uleb(l)];
  const set = (l: number) => [LOCAL_SET, ...uleb(l)];
  const tee = (l: number) => [LOCAL_TEE, ...uleb(l)];
  const c32 = (v: number) => [I32_CONST, ...sleb(v)];
  const op = (...b: number[]) => b;
  const simd = (o: number) => [SIMD, ...uleb(o)];
  const w = (...parts: number[][]) => {
    for (const q of parts) code.push(...q);
  };
  return { code, get, set, tee, c32, op, simd, w };
}

// f32 and f32x4 opcodes (fixed-width SIMD), used by @fidlab/tfjs-cpu's sgemm.
export const I32_LOAD = 0x28;
export const F32_LOAD = 0x2a;
export const F32_ADD = 0x92;
export const F32_STORE = 0x38;
export const F32 = 0x7d;
export const V128_LOAD32_SPLAT = 0x09;
export const F32X4_SPLAT = 0x13;
export const F32X4_ADD = 0xe4;
export const F32X4_MUL = 0xe6;
export const F32X4_SQRT = 0xe3;
export const F32X4_SUB = 0xe5;
export const F32X4_DIV = 0xe7;
export const F32X4_MIN = 0xe8;
export const F32X4_MAX = 0xe9;
export const F32X4_GT = 0x44;
export const F64X2_SUB = 0xf1;
export const F64X2_PROMOTE_LOW_F32X4 = 0x5f;
export const V128_LOAD64_ZERO = 0x5d;
export const V128_BITSELECT = 0x52;
/** memory.copy (bulk memory), memory 0 to memory 0: [dst, src, n] on the stack. */
export const MEMORY_COPY = [0xfc, 0x0a, 0x00, 0x00];

/** The 8-byte header every module starts with (magic + version 1). */
export const MODULE_HEADER = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
