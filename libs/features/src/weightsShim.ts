// TEMPORARY stand-in for @fidlab/weights (helper C) until it is committed: safetensors only.
import { readFile } from 'node:fs/promises';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';

export interface WeightTensor {
  shape: number[];
  dtype: string;
  data: Float32Array;
}
export type StateDict = Map<string, WeightTensor>;

export async function loadStateDict(path: string): Promise<StateDict> {
  const buf = await readFile(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const sd: StateDict = new Map();
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const [s, e] = v.data_offsets;
    const bytes = buf.subarray(8 + n + s, 8 + n + e);
    const data = new Float32Array(bytes.length / 4);
    new Uint8Array(data.buffer).set(bytes);
    sd.set(k, { shape: v.shape, dtype: 'float32', data });
  }
  return sd;
}

export function checkStateDict(
  sd: StateDict,
  expected: Record<string, number[]>,
  opts: { file: string; arch: string },
): void {
  const missing = Object.keys(expected).filter((k) => !sd.has(k));
  const unexpected = [...sd.keys()].filter((k) => !(k in expected));
  const bad = Object.keys(expected).filter(
    (k) => sd.has(k) && sd.get(k)!.shape.join(',') !== expected[k].join(','),
  );
  if (missing.length || unexpected.length || bad.length)
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${opts.file} is not a ${opts.arch} state_dict: missing ${missing.slice(0, 5)}, unexpected ${unexpected.slice(0, 5)}, mis-shaped ${bad.slice(0, 5)}`,
    );
}

export function weightsCacheDir(): string {
  return process.env.FIDLAB_WEIGHTS ?? `${process.env.HOME ?? '.'}/.cache/fidlab/weights`;
}
