import { open } from 'node:fs/promises';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { atomicWrite } from '@fidlab/base';
import { DTYPE_BYTES, stridedToFloat32 } from './dtypes.js';
import type { StateDict, WeightTensor } from './types.js';

/**
 * The .safetensors format (huggingface/safetensors): an 8-byte little-endian header length N,
 * N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`
 * (offsets relative to the end of the header), then the raw little-endian tensor bytes.
 */

const ST_TO_DTYPE: Record<string, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const DTYPE_TO_ST: Record<string, string> = Object.fromEntries(
  Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k]),
);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Metadata key under which fidlab keeps dtypes that differ from the stored (float32) ones. */
const DTYPES_META = 'fidlab.dtypes';

/** Integer ranges that can be stored in their own dtype exactly. */
const INT_RANGE: Record<string, [number, number]> = {
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  int8: [-128, 127],
  uint8: [0, 255],
  bool: [0, 1],
};

/** True when the first bytes look like a safetensors header (length, then '{'). */
export function looksLikeSafetensors(head: Uint8Array, fileSize: number): boolean {
  if (head.length < 9) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(fileSize - 8) && head[8] === 0x7b;
}

export function readSafetensors(buf: Uint8Array, file: string): StateDict {
  const bad = (what: string): never => {
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: ${what} (safetensors)`);
  };
  if (buf.length < 8) bad('shorter than its 8-byte header length');
  const n = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
  if (n > buf.length - 8) bad(`header length ${n} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n))) as Record<
      string,
      unknown
    >;
  } catch (e) {
    return bad(`header is not JSON (${(e as Error).message})`);
  }
  const data = buf.subarray(8 + n);
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  let originalDtypes: Record<string, string> = {};
  if (typeof meta[DTYPES_META] === 'string') {
    try {
      originalDtypes = JSON.parse(meta[DTYPES_META]) as Record<string, string>;
    } catch {
      bad(`metadata '${DTYPES_META}' is not JSON`);
    }
  }
  const entries: { name: string; begin: number; end: number; dtype: string; shape: number[] }[] =
    [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = ST_TO_DTYPE[String(info.dtype)];
    if (!dtype) bad(`tensor '${name}' has unsupported dtype '${String(info.dtype)}'`);
    const shape = info.shape;
    const offs = info.data_offsets;
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => Number.isInteger(d) && d >= 0) ||
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      bad(`tensor '${name}' has a malformed shape or data_offsets`);
    }
    const [begin, end] = offs as number[];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== numel * DTYPE_BYTES[dtype] || end > data.length) {
      bad(
        `tensor '${name}' [${String(shape)}] ${String(info.dtype)} does not fit data_offsets [${begin}, ${end}]`,
      );
    }
    entries.push({ name, begin, end, dtype, shape: shape as number[] });
  }
  // File order (JSON objects put integer-like keys first, so the header's order is not it).
  entries.sort((a, b) => a.begin - b.begin);
  const out: StateDict = new Map();
  for (const e of entries) {
    const strides = contiguousStrides(e.shape);
    const values = stridedToFloat32(data.subarray(e.begin, e.end), e.dtype, 0, e.shape, strides, {
      littleEndian: true,
      what: `${file}: '${e.name}'`,
    });
    out.set(e.name, { shape: e.shape, dtype: originalDtypes[e.name] ?? e.dtype, data: values });
  }
  return out;
}

function contiguousStrides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** The dtype a tensor is stored as: its own when float32 or an integer type that holds its values exactly. */
function storedDtype(t: WeightTensor): string {
  const range = INT_RANGE[t.dtype];
  if (!range) return 'float32';
  for (const v of t.data)
    if (!Number.isInteger(v) || v < range[0] || v > range[1]) return 'float32';
  return t.dtype;
}

/**
 * Serializes a state_dict. Float tensors are stored as F32 (the data is float32, so nothing is
 * lost); integer/bool tensors keep their type when their values fit. Original dtypes that differ
 * from the stored ones go to the metadata, so a round trip returns the same WeightTensors.
 */
export function encodeSafetensors(
  sd: StateDict,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  const original: Record<string, string> = {};
  const parts: { dtype: string; t: WeightTensor }[] = [];
  let offset = 0;
  for (const [name, t] of sd) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `tensor '${name}': shape [${t.shape}] holds ${n} values but data has ${t.data.length}`,
      );
    }
    const dtype = storedDtype(t);
    if (dtype !== t.dtype) original[name] = t.dtype;
    const bytes = n * DTYPE_BYTES[dtype];
    header[name] = {
      dtype: DTYPE_TO_ST[dtype],
      shape: t.shape,
      data_offsets: [offset, offset + bytes],
    };
    parts.push({ dtype, t });
    offset += bytes;
  }
  const meta = { ...metadata };
  if (Object.keys(original).length > 0) meta[DTYPES_META] = JSON.stringify(original);
  if (Object.keys(meta).length > 0) header.__metadata__ = meta;
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const { dtype, t } of parts) {
    const d = t.data;
    switch (dtype) {
      case 'float32':
        if (LITTLE_ENDIAN_HOST && p % 4 === 0) {
          new Float32Array(out.buffer, p, d.length).set(d);
          p += d.length * 4;
        } else {
          for (let i = 0; i < d.length; i++, p += 4) view.setFloat32(p, d[i], true);
        }
        break;
      case 'int64':
        for (let i = 0; i < d.length; i++, p += 8) view.setBigInt64(p, BigInt(d[i]), true);
        break;
      case 'int32':
        for (let i = 0; i < d.length; i++, p += 4) view.setInt32(p, d[i], true);
        break;
      case 'int16':
        for (let i = 0; i < d.length; i++, p += 2) view.setInt16(p, d[i], true);
        break;
      case 'int8':
        for (let i = 0; i < d.length; i++, p += 1) view.setInt8(p, d[i]);
        break;
      default: // uint8, bool
        for (let i = 0; i < d.length; i++, p += 1) view.setUint8(p, d[i]);
    }
  }
  return out;
}

/** Writes a .safetensors file atomically (temporary file, then rename). */
export async function saveSafetensors(
  path: string,
  sd: StateDict,
  metadata?: Record<string, string>,
): Promise<void> {
  await atomicWrite(path, encodeSafetensors(sd, metadata));
}

/** The `__metadata__` of a .safetensors file (string -> string), empty when there is none. */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  const fh = await open(path, 'r');
  try {
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const head = Buffer.alloc(n);
    await fh.read(head, 0, n, 8);
    const header = JSON.parse(head.toString('utf8')) as Record<string, unknown>;
    return (header.__metadata__ ?? {}) as Record<string, string>;
  } catch (e) {
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${path}: unreadable safetensors header`, {
      cause: e,
    });
  } finally {
    await fh.close();
  }
}
