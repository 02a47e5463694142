import assert from 'node:assert/strict';

/** Asserts |actual - expected| <= rel * |expected| (or an absolute rel * 1e-12 near zero). */
export function assertClose(actual: number, expected: number, rel: number, what = 'value'): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(
    err <= rel || Math.abs(actual - expected) <= rel * 1e-12,
    `${what}: got ${actual}, expected ${expected} (relative error ${err.toExponential(2)} > ${rel})`,
  );
}

/**
 * Asserts every |actual[i] - expected[i]| <= tol * max_j |expected[j]|: the error relative to the
 * reference's scale, so entries near zero are not held to a relative bound they cannot meet.
 */
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

/** Frobenius-norm relative error ||a - b|| / ||b||. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * max |a - b| / max |b|: the largest error relative to the reference's scale. NaN anywhere makes
 * the result NaN (never passes a `<=` check); different lengths give Infinity.
 */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > num) num = d;
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
