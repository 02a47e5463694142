import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRng } from '@fidlab/base';
import { FidlabError } from '@fidlab/base';
import type { Matrix } from './matrix.js';
import { fromRows } from './matrix.js';

/** Test helpers (not exported from the package index). */

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

export function assertClose(actual: number, expected: number, rel: number, what = 'value'): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(
    err <= rel || Math.abs(actual - expected) <= rel * 1e-12,
    `${what}: got ${actual}, expected ${expected} (relative error ${err.toExponential(2)} > ${rel})`,
  );
}

export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = 'array',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol * Math.max(scale, 1e-300),
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`,
    );
  }
}

export { fromRows };

/** Asserts that fn throws a FidlabError with this code and a message matching pattern. */
export function throwsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FidlabError, `expected FidlabError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
}

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
