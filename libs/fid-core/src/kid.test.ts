import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { throwsCode } from '@fidlab/testing';
import { ErrorCode } from '@fidlab/base';
import { kid } from './kid.js';
import { fromRows, type Matrix } from './matrix.js';
import { createRng, sampleWithoutReplacement } from '@fidlab/base';

interface KidFixture {
  x: number[][];
  y: number[][];
  y50: number[][];
  mmd2_x_y: number;
  mmd2_x_y50: number;
}
const fixture = JSON.parse(
  readFileSync(new URL('../test-fixtures/metrics/kid.json', import.meta.url), 'utf8'),
) as KidFixture;
const fx = fromRows(fixture.x); // [40, 16]
const fy = fromRows(fixture.y); // [40, 16]
const fy50 = fromRows(fixture.y50); // [50, 16]

const RTOL = 1e-10;
function assertClose(actual: number, expected: number, rtol = RTOL, msg = ''): void {
  const tol = rtol * Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${msg} expected ${expected}, got ${actual} (|diff| ${Math.abs(actual - expected)} > ${tol})`,
  );
}

/** Unbiased MMD^2 by the definition, one kernel value at a time (no gemm). */
function naiveMmd2(x: Matrix, ix: ArrayLike<number>, y: Matrix, iy: ArrayLike<number>): number {
  const d = x.cols;
  const k = (a: Matrix, i: number, b: Matrix, j: number) => {
    let s = 0;
    for (let p = 0; p < d; p++) s += a.data[i * d + p] * b.data[j * d + p];
    return (s / d + 1) ** 3;
  };
  const m = ix.length;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      if (a !== b) {
        sxx += k(x, ix[a], x, ix[b]);
        syy += k(y, iy[a], y, iy[b]);
      }
      sxy += k(x, ix[a], y, iy[b]);
    }
  }
  return (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
}

/** The documented draw order: per subset, x's indices then y's, from createRng(seed). */
function naiveKid(x: Matrix, y: Matrix, subsets: number, m: number, seed: number): number[] {
  const rng = createRng(seed);
  const out: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const ix = sampleWithoutReplacement(rng, x.rows, m);
    const iy = sampleWithoutReplacement(rng, y.rows, m);
    out.push(naiveMmd2(x, ix, y, iy));
  }
  return out;
}

test('KID of identical 1-d sets, worked by hand', () => {
  // k(a, b) = (a b + 1)^3: k(1, 1) = k(-1, -1) = 8, k(1, -1) = 0.
  // Off-diagonal means of K_xx and K_yy: 0; mean of all of K_xy: (8 + 0 + 0 + 8) / 4 = 4.
  // MMD^2_u = 0 + 0 - 2 * 4 = -8 (the unbiased estimator is negative for identical sets).
  const x = fromRows([[1], [-1]]);
  const r = kid(x, x, { subsets: 5, subsetSize: 2 });
  assert.equal(r.kid, -8);
  assert.equal(r.kidStd, 0);
  assert.equal(r.subsets, 5);
  assert.equal(r.subsetSize, 2);
  assert.deepEqual(r.warnings, []);
});

test('KID of two constant 1-d sets, worked by hand', () => {
  // x = {0, 0}, y = {1, 1}: k(0, 0) = 1, k(1, 1) = 2^3 = 8, k(0, 1) = 1. MMD^2_u = 1 + 8 - 2 = 7.
  const r = kid(fromRows([[0], [0]]), fromRows([[1], [1]]), { subsets: 1, subsetSize: 2 });
  assert.equal(r.kid, 7);
});

test('KID divides the dot product by the dimension, worked by hand', () => {
  // d = 2, x = y = {e1, e2}: k(e1, e1) = (1/2 + 1)^3 = 3.375, k(e1, e2) = 1.
  // Off-diagonal means: 1 and 1; mean of K_xy: (2 * 3.375 + 2 * 1) / 4 = 2.1875.
  // MMD^2_u = 1 + 1 - 2 * 2.1875 = -2.375.
  const x = fromRows([
    [1, 0],
    [0, 1],
  ]);
  assert.equal(kid(x, x, { subsets: 1, subsetSize: 2 }).kid, -2.375);
});

test('KID over whole equal-size sets matches numpy (every subset is the full set)', () => {
  const r = kid(fx, fy, { subsets: 3, subsetSize: 40 });
  assertClose(r.kid, fixture.mmd2_x_y);
  assert.ok(r.kidStd <= 1e-12 * Math.abs(r.kid), `kidStd ${r.kidStd} should be rounding only`);
  assert.deepEqual(r.warnings, []);
});

test('KID subsets follow the documented seeded draws (precomputed-kernel path)', () => {
  // 2 subsets of 40: 3 * 40^2 * 2 = 9600 subset entries >= 6100 full entries, so kernels are
  // precomputed once.
  const r = kid(fx, fy50, { subsets: 2, subsetSize: 40, seed: 7 });
  const ref = naiveKid(fx, fy50, 2, 40, 7);
  const mean = (ref[0] + ref[1]) / 2;
  assertClose(r.kid, mean);
  assertClose(r.kidStd, Math.abs(ref[0] - ref[1]) / 2, 1e-8);
});

test('KID subsets follow the documented seeded draws (per-subset kernel path)', () => {
  // 3 subsets of 5: 225 subset entries < 6100 full entries, so each subset computes its own.
  const r = kid(fx, fy50, { subsets: 3, subsetSize: 5, seed: 11 });
  const ref = naiveKid(fx, fy50, 3, 5, 11);
  const mean = ref.reduce((a, b) => a + b, 0) / 3;
  const std = Math.sqrt(ref.reduce((a, v) => a + (v - mean) ** 2, 0) / 3); // ddof 0
  assertClose(r.kid, mean);
  assertClose(r.kidStd, std, 1e-8);
});

test('KID over many subsets converges to the full-sample numpy MMD^2 (unequal sizes)', () => {
  // Each subset estimator is unbiased for the full-sample U-statistic, so the mean over S
  // subsets lies within a few standard errors (kidStd / sqrt(S)) of it.
  const subsets = 2000;
  const r = kid(fx, fy50, { subsets, subsetSize: 40, seed: 3 });
  const stderr = r.kidStd / Math.sqrt(subsets);
  assert.ok(r.kidStd > 0);
  assert.ok(
    Math.abs(r.kid - fixture.mmd2_x_y50) <= 5 * stderr,
    `KID ${r.kid} vs numpy ${fixture.mmd2_x_y50}, stderr ${stderr}`,
  );
});

test('KID is deterministic per seed and changes with it', () => {
  const opts = { subsets: 20, subsetSize: 10 };
  const a = kid(fx, fy50, { ...opts, seed: 1 });
  const b = kid(fx, fy50, { ...opts, seed: 1 });
  const c = kid(fx, fy50, { ...opts, seed: 2 });
  assert.deepEqual(a, b);
  assert.notEqual(a.kid, c.kid);
  const dflt = kid(fx, fy50, opts);
  assert.deepEqual(dflt, kid(fx, fy50, { ...opts, seed: 0 }));
});

test('KID clamps a subset size above the smaller set, with a warning', () => {
  const r = kid(fx, fy50, { subsets: 4 });
  assert.equal(r.subsetSize, 40);
  assert.equal(r.subsets, 4);
  assert.deepEqual(r.warnings, [
    'KID subset size 1000 clamped to 40 (smallest set has 40 samples)',
  ]);
  const d = kid(fx, fy50);
  assert.equal(d.subsets, 100);
  assert.equal(d.subsetSize, 40);
  assert.equal(d.warnings.length, 1);
  assert.deepEqual(kid(fx, fy50, { subsets: 4, subsetSize: 40 }).warnings, []);
});

test('KID rejects bad input with a FidlabError', () => {
  const x3 = fromRows([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  throwsCode(() => kid(fx, x3), ErrorCode.SHAPE_MISMATCH, /16.*3/);
  throwsCode(
    () => kid(fromRows([[1]]), fromRows([[1], [2]])),
    ErrorCode.TOO_FEW_SAMPLES,
    /x has 1/,
  );
  const bad = fromRows([
    [1, 2],
    [3, NaN],
  ]);
  const ok = fromRows([
    [1, 2],
    [3, 4],
  ]);
  throwsCode(() => kid(ok, bad), ErrorCode.NOT_FINITE, /row 1, column 1/);
  throwsCode(() => kid(ok, ok, { subsets: 0 }), ErrorCode.INVALID_INPUT, /subsets.*0/);
  throwsCode(() => kid(ok, ok, { subsets: 1.5 }), ErrorCode.INVALID_INPUT, /subsets/);
  throwsCode(() => kid(ok, ok, { subsetSize: 1 }), ErrorCode.INVALID_INPUT, /subset size.*1/);
  throwsCode(() => kid(ok, ok, { seed: -1 }), ErrorCode.INVALID_INPUT, /seed.*-1/);
  throwsCode(() => kid(ok, ok, { seed: 0.5 }), ErrorCode.INVALID_INPUT, /seed/);
});
