import { readFile } from 'node:fs/promises';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';

/** A float32 tensor as stored: shape and row-major data. */
export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * The safetensors format (Hugging Face), float32 only: 8-byte little-endian header length, a JSON
 * header `{name: {dtype: 'F32', shape, data_offsets: [begin, end]}, __metadata__: {...}}` padded
 * with spaces to a multiple of 8, then the raw little-endian data. Other tools read these files.
 */
export function encodeSafetensors(
  tensors: Iterable<[string, StoredTensor]>,
  metadata: Record<string, string> = {},
): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    parts.push(t.data);
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const p of parts) {
    Buffer.from(p.buffer, p.byteOffset, p.byteLength).copy(out, pos); // host is little-endian
    pos += p.byteLength;
  }
  return out;
}

export function decodeSafetensors(
  buf: Buffer,
  file: string,
): { tensors: Map<string, StoredTensor>; metadata: Record<string, string> } {
  const bad = (why: string) =>
    new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${file} is not a readable safetensors file: ${why}`,
    );
  if (buf.length < 8) throw bad('shorter than its header length');
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw bad(`header length ${n} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = h as unknown as Record<string, string>;
      continue;
    }
    if (h.dtype !== 'F32') throw bad(`${name} has dtype ${h.dtype}, only F32 is supported`);
    const [b, e] = h.data_offsets;
    const count = h.shape.reduce((x, y) => x * y, 1);
    if (e - b !== count * 4 || base + e > buf.length) throw bad(`${name} has bad data offsets`);
    const data = new Float32Array(count);
    Buffer.from(data.buffer).set(buf.subarray(base + b, base + e));
    tensors.set(name, { shape: h.shape, data });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string) {
  return decodeSafetensors(await readFile(path), path);
}
