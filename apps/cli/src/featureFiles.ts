import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ErrorCode, FidlabError, parseNpy, parseNpz, type NdArray } from '@fidlab/base';
import { assertFinite, checkCovariance, type FeatureStats, type Matrix } from '@fidlab/fid-core';

/** A feature input file: raw features [n, d] (.npy, or an .npz holding one 2-D array) or pytorch-fid stats (.npz with mu, sigma). */
export type FeatureInput =
  | { kind: 'features'; path: string; features: Matrix }
  | { kind: 'stats'; path: string; stats: FeatureStats };

function readBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${path}: no such file`);
  if (statSync(path).isDirectory()) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${path}: is a folder; give a .npy feature matrix or an .npz statistics file (image folders come with the feature extractors)`,
    );
  }
  return new Uint8Array(readFileSync(path));
}

function toMatrix(a: NdArray, what: string): Matrix {
  if (a.shape.length !== 2) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `${what}: expected a 2-D feature matrix (N x D), got shape (${a.shape.join(', ')})`,
    );
  }
  const m: Matrix = { rows: a.shape[0], cols: a.shape[1], data: a.data };
  assertFinite(m.data, what, m.cols);
  return m;
}

/** What a file that is not a .npy looks like, from its first bytes (for error messages). */
export function describeFile(bytes: Uint8Array): string {
  const starts = (...b: number[]) => b.every((x, i) => bytes[i] === x);
  if (bytes.length === 0) return 'an empty file';
  if (starts(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59)) return 'a .npy array';
  if (starts(0x50, 0x4b)) return 'a zip archive (an .npz, or a PyTorch .pth checkpoint)';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'a PNG image';
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG image';
  if (starts(0x80) && bytes.length > 1 && bytes[1] <= 5)
    return 'a Python pickle (an old-style .pth checkpoint)';
  if (bytes.length >= 9 && bytes[8] === 0x7b) return 'a .safetensors weights file';
  const head = bytes.subarray(0, 512);
  const text = head.every(
    (b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 128,
  );
  if (text) return 'a text file (e.g. CSV or YAML)';
  return 'a binary file of an unknown kind';
}

const NEEDS_MATRIX =
  'a .npy feature matrix (N x D, one row per image; fidlab features DIR --extractor NAME --out F.npy makes one)';

/**
 * Reads a feature matrix [n, d]: a `.npy`, or an `.npz` holding exactly one 2-D array. Anything
 * else (pytorch-fid statistics, an image, a checkpoint) is named with what the command needs.
 */
export function readFeatureMatrix(path: string): Matrix {
  const bytes = readBytes(path);
  const kind = describeFile(bytes);
  if (kind === 'a .npy array') return toMatrix(parseNpy(bytes, basename(path)), path);
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    let members: Map<string, NdArray> | undefined;
    try {
      members = parseNpz(bytes, path);
    } catch {
      // not an npz: described below
    }
    if (members?.has('mu') && members.has('sigma')) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${path}: not a feature matrix: it is pytorch-fid statistics (an .npz with mu and sigma); this command needs ${NEEDS_MATRIX} (only fidlab fid takes statistics)`,
      );
    }
    const arrays = members ? [...members.entries()].filter(([, a]) => a.shape.length === 2) : [];
    if (arrays.length === 1) return toMatrix(arrays[0][1], `${path} (${arrays[0][0]})`);
    if (members) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${path}: not a feature matrix: it is an .npz with ${[...members.keys()].join(', ') || 'no arrays'}; this command needs ${NEEDS_MATRIX}`,
      );
    }
  }
  throw new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${path}: not an npy file: it is ${kind}; this command needs ${NEEDS_MATRIX}`,
  );
}

/** Reads `.npy` features or an `.npz` with `mu`/`sigma` (or a single 2-D feature array). */
export function readFeatureInput(path: string): FeatureInput {
  const bytes = readBytes(path);
  const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b; // "PK": an .npz whatever its name
  if (!isZip) {
    const kind = describeFile(bytes);
    if (kind !== 'a .npy array') {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${path}: not an npy file: it is ${kind}; expected a .npy feature matrix (N x D) or an .npz of pytorch-fid statistics (mu, sigma)`,
      );
    }
    return { kind: 'features', path, features: toMatrix(parseNpy(bytes, path), path) };
  }
  const members = parseNpz(bytes, path);
  const mu = members.get('mu');
  const sigma = members.get('sigma');
  if (mu && sigma) {
    if (mu.shape.length !== 1) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `${path}: mu must be 1-D, got shape (${mu.shape.join(', ')})`,
      );
    }
    const d = mu.shape[0];
    if (sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `${path}: sigma has shape (${sigma.shape.join(', ')}), expected (${d}, ${d}) to match mu`,
      );
    }
    assertFinite(mu.data, `${path} (mu)`);
    assertFinite(sigma.data, `${path} (sigma)`, d);
    const cov = { rows: d, cols: d, data: sigma.data };
    checkCovariance(cov, `${path} (sigma)`);
    return { kind: 'stats', path, stats: { n: 0, mu: mu.data, sigma: cov, checked: true } };
  }
  const arrays = [...members.entries()].filter(([, a]) => a.shape.length === 2);
  if (arrays.length === 1)
    return {
      kind: 'features',
      path,
      features: toMatrix(arrays[0][1], `${path} (${arrays[0][0]})`),
    };
  throw new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${path}: an .npz input needs keys 'mu' and 'sigma' (pytorch-fid statistics) or exactly one 2-D feature array; found ${[...members.keys()].join(', ') || 'no arrays'}`,
  );
}
