import { ErrorCode, FidlabError } from '@fidlab/base';

/** Element sizes of the dtypes fidlab reads (PyTorch names). */
export const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Half-precision bits -> number (IEEE 754 binary16, subnormals and inf/nan included). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Copies a strided view of a raw storage into a contiguous float32 array.
 *
 * bytes: the storage's raw bytes; offset and strides count elements (PyTorch's convention).
 * int64 values beyond 2^24 lose precision in float32; weights never hold such values (the only
 * int64 entries in state_dicts are counters such as BatchNorm's num_batches_tracked).
 */
export function stridedToFloat32(
  bytes: Uint8Array,
  dtype: string,
  offset: number,
  shape: number[],
  strides: number[],
  opts: { littleEndian: boolean; what: string },
): Float32Array {
  const size = DTYPE_BYTES[dtype];
  if (size === undefined) {
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${opts.what}: unsupported dtype '${dtype}'`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (n === 0) return out;
  // Highest element index touched: the view must lie inside its storage.
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * strides[d];
  if (offset < 0 || (last + 1) * size > bytes.length) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${opts.what}: tensor [${shape}] with offset ${offset} and strides [${strides}] runs past its ` +
        `storage of ${Math.floor(bytes.length / size)} ${dtype} elements`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = opts.littleEndian;
  const read = readerFor(dtype, view, le);

  // Fast path: a contiguous little-endian float32 block is one copy.
  let contiguous = true;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous && dtype === 'float32' && le && LITTLE_ENDIAN_HOST) {
    // One byte copy into the result, aligned or not (legacy files pack storages unaligned).
    new Uint8Array(out.buffer).set(bytes.subarray(offset * 4, (offset + n) * 4));
    return out;
  }
  if (contiguous) {
    for (let i = 0; i < n; i++) out[i] = read(offset + i);
    return out;
  }
  // General path: odometer over the index, innermost dimension in a tight loop.
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  const inner = shape[rank - 1];
  const innerStride = strides[rank - 1];
  let base = offset;
  for (let o = 0; o < n;) {
    for (let j = 0, p = base; j < inner; j++, p += innerStride) out[o++] = read(p);
    let d = rank - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      base += strides[d];
      if (idx[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

function readerFor(dtype: string, v: DataView, le: boolean): (i: number) => number {
  switch (dtype) {
    case 'float32':
      return (i) => v.getFloat32(i * 4, le);
    case 'float64':
      return (i) => v.getFloat64(i * 8, le);
    case 'float16':
      return (i) => halfToFloat(v.getUint16(i * 2, le));
    case 'bfloat16': {
      // bfloat16 is the top half of a float32.
      const tmp = new DataView(new ArrayBuffer(4));
      return (i) => {
        tmp.setUint32(0, v.getUint16(i * 2, le) << 16, true);
        return tmp.getFloat32(0, true);
      };
    }
    case 'int64':
      return (i) => Number(v.getBigInt64(i * 8, le));
    case 'int32':
      return (i) => v.getInt32(i * 4, le);
    case 'int16':
      return (i) => v.getInt16(i * 2, le);
    case 'int8':
      return (i) => v.getInt8(i);
    case 'uint8':
      return (i) => v.getUint8(i);
    case 'bool':
      return (i) => (v.getUint8(i) ? 1 : 0);
    default:
      throw new Error(`unreachable dtype ${dtype}`);
  }
}
