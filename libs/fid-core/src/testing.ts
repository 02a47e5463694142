import { readFileSync } from 'node:fs';
import { createRng } from '@fidlab/base';
import type { Matrix } from './matrix.js';
import { fromRows } from './matrix.js';

/**
 * fid-core's own test helpers (not exported from the package index); the generic ones
 * (assertClose, assertAllClose, throwsCode) are in @fidlab/testing.
 */

export function loadJsonFixture<T>(relPath: string): T {
  return JSON.parse(
    readFileSync(new URL(`../test-fixtures/${relPath}`, import.meta.url), 'utf8'),
  ) as T;
}

export function randomMatrix(
  rows: number,
  cols: number,
  seed: number,
  scale = 1,
  offset = 0,
): Matrix {
  const rng = createRng(seed);
  const data = new Float64Array(rows * cols);
  // Box-Muller normal samples.
  for (let i = 0; i < data.length; i++) {
    const u = 1 - rng.next();
    const v = rng.next();
    data[i] = offset + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return { rows, cols, data };
}

export { fromRows };

/** C = A B^T by the textbook triple loop: the reference for the tuned kernels. */
export function naiveNT(a: Matrix, b: Matrix): Float64Array {
  const c = new Float64Array(a.rows * b.rows);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < b.rows; j++) {
      let s = 0;
      for (let p = 0; p < a.cols; p++) s += a.data[i * a.cols + p] * b.data[j * b.cols + p];
      c[i * b.rows + j] = s;
    }
  return c;
}
