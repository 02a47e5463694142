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

/** Reads a feature matrix; `.npy` only (N x D). */
export function readFeatureMatrix(path: string): Matrix {
  return toMatrix(parseNpy(readBytes(path), basename(path)), path);
}

/** Reads `.npy` features or an `.npz` with `mu`/`sigma` (or a single 2-D feature array). */
export function readFeatureInput(path: string): FeatureInput {
  const bytes = readBytes(path);
  const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b; // "PK": an .npz whatever its name
  if (!isZip) return { kind: 'features', path, features: toMatrix(parseNpy(bytes, path), path) };
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
