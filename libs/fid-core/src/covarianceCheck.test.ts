import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { checkCovariance, PSD_RTOL, SYMMETRY_RTOL } from './covarianceCheck.js';
import { featureStats } from './featureStats.js';
import { frechetDistanceFromStats } from './frechetDistance.js';
import { fromRows, type Matrix } from './matrix.js';
import { randomMatrix } from './testing.js';

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FidlabError);
    assert.equal(e.code, ErrorCode.INVALID_INPUT);
    assert.match(e.message, pattern);
    return true;
  });
}

test('sample covariances pass, rank-deficient ones (n < d) included', () => {
  for (const [n, d] of [
    [50, 10],
    [5, 30],
  ]) {
    const s = featureStats(randomMatrix(n, d, n + d));
    const r = checkCovariance(s.sigma, 's');
    assert.ok(r.asymmetry <= SYMMETRY_RTOL);
  }
  // All zero (constant features) is a valid covariance.
  checkCovariance({ rows: 3, cols: 3, data: new Float64Array(9) }, 'zero');
});

test('a non-symmetric sigma is refused naming the worst entry and the tolerance', () => {
  const S = fromRows([
    [2, 0.5, 0],
    [0.5, 2, 0.3],
    [0, -0.3, 2],
  ]);
  refused(
    () => checkCovariance(S, 'b.npz (sigma)'),
    /^b\.npz \(sigma\): covariance is not symmetric: entry \(1, 2\) is 0\.3 but \(2, 1\) is -0\.3 .*tolerance 1e-5/,
  );
  // Float32-size asymmetry passes.
  const T = fromRows([
    [2, 0.5],
    [0.5 * (1 + 1e-7), 2],
  ]);
  checkCovariance(T, 't');
});

test('an indefinite or negative definite sigma is refused naming the eigenvalue; rounding-size negatives pass', () => {
  refused(
    () =>
      checkCovariance(
        fromRows([
          [-1, 0],
          [0, -2],
        ]),
        'neg.npz (sigma)',
      ),
    /^neg\.npz \(sigma\): covariance is not positive semi-definite: smallest eigenvalue -2\.000e\+0 is below/,
  );
  // Positive diagonal, indefinite: eigenvalues 1 +- 3.
  refused(
    () =>
      checkCovariance(
        fromRows([
          [1, 3],
          [3, 1],
        ]),
        'ind',
      ),
    /smallest eigenvalue -2\.000e\+0 .*1e-6 x trace/,
  );
  // A PSD matrix with one eigenvalue pushed just below zero by rounding: -1e-9 with trace 2.
  const c = Math.SQRT1_2;
  const lam = [2, -1e-9 * 2 * PSD_RTOL * 1e6 * 0.1];
  const S: Matrix = {
    rows: 2,
    cols: 2,
    data: Float64Array.from([
      lam[0] * c * c + lam[1] * c * c,
      lam[0] * c * c - lam[1] * c * c,
      lam[0] * c * c - lam[1] * c * c,
      lam[0] * c * c + lam[1] * c * c,
    ]),
  };
  checkCovariance(S, 'rounded');
});

test('frechetDistanceFromStats refuses an invalid sigma instead of a plausible FID', () => {
  const s = featureStats(randomMatrix(40, 6, 7));
  const bad = { ...s, sigma: { ...s.sigma, data: s.sigma.data.map((v) => -v) } };
  refused(
    () => frechetDistanceFromStats(s, bad, ['a', 'b']),
    /^b \(sigma\): covariance is not positive semi-definite/,
  );
  const asym = Float64Array.from(s.sigma.data);
  asym[1] += 0.5;
  refused(
    () => frechetDistanceFromStats(s, { ...s, sigma: { ...s.sigma, data: asym } }, ['a', 'b']),
    /^b \(sigma\): covariance is not symmetric/,
  );
});
