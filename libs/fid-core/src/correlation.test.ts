import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { throwsCode } from '@fidlab/testing';
import { correlate, kendallTauB, pearson, spearman } from './correlation.js';
import { ErrorCode } from '@fidlab/base';
import { createRng } from '@fidlab/base';

interface CorrelationCase {
  name: string;
  x: number[];
  y: number[];
  pearson: number;
  spearman: number;
  kendall: number;
}
const fixture = JSON.parse(
  readFileSync(new URL('../test-fixtures/metrics/correlation.json', import.meta.url), 'utf8'),
) as { cases: CorrelationCase[] };

const RTOL = 1e-10;
function assertClose(actual: number, expected: number, msg: string, rtol = RTOL): void {
  assert.ok(
    Math.abs(actual - expected) <= rtol * Math.abs(expected),
    `${msg}: expected ${expected}, got ${actual}`,
  );
}

test('correlations of a 3-point series, worked by hand', () => {
  // x = (1, 2, 3), y = (1, 3, 2): deviations (-1, 0, 1) and (-1, 1, 0); sum of products 1,
  // sums of squares 2 and 2: r = 1/2. Ranks equal the values: Spearman 1/2. Pairs (1,2) and
  // (1,3) concordant, (2,3) discordant: tau = (2 - 1) / 3.
  const x = [1, 2, 3];
  const y = [1, 3, 2];
  assertClose(pearson(x, y), 0.5, 'pearson');
  assertClose(spearman(x, y), 0.5, 'spearman');
  assertClose(kendallTauB(x, y), 1 / 3, 'kendall');
  const c = correlate(x, y);
  assert.equal(c.n, 3);
  assertClose(c.pearson, 0.5, 'correlate pearson');
  assertClose(c.spearman, 0.5, 'correlate spearman');
  assertClose(c.kendall, 1 / 3, 'correlate kendall');
});

test('correlations with a tie, worked by hand', () => {
  // x = (1, 1, 2), y = (1, 2, 3).
  // Pearson: deviations (-1/3, -1/3, 2/3) and (-1, 0, 1): sum 1, squares 2/3 and 2,
  //   r = 1 / sqrt(4/3) = sqrt(3)/2.
  // Spearman: ranks (1.5, 1.5, 3) and (1, 2, 3): deviations (-0.5, -0.5, 1), (-1, 0, 1):
  //   1.5 / sqrt(1.5 * 2) = sqrt(3)/2.
  // Kendall tau-b: pair (1,2) tied in x, (1,3) and (2,3) concordant: n_c = 2, n_d = 0,
  //   n_0 = 3, n_x = 1, n_y = 0: 2 / sqrt(2 * 3) = 2 / sqrt(6).
  const x = [1, 1, 2];
  const y = [1, 2, 3];
  assertClose(pearson(x, y), Math.sqrt(3) / 2, 'pearson');
  assertClose(spearman(x, y), Math.sqrt(3) / 2, 'spearman');
  assertClose(kendallTauB(x, y), 2 / Math.sqrt(6), 'kendall');
});

test('perfectly decreasing series give -1', () => {
  const c = correlate([1, 2, 3, 4], new Float64Array([8, 6, 4, 2]));
  assert.equal(c.n, 4);
  assertClose(c.pearson, -1, 'pearson', 1e-15);
  assertClose(c.spearman, -1, 'spearman', 1e-15);
  assert.equal(c.kendall, -1);
});

test('a constant series gives NaN, as scipy', () => {
  const c = correlate([0.1, 0.1, 0.1], [1, 2, 3]);
  assert.ok(Number.isNaN(c.pearson) && Number.isNaN(c.spearman) && Number.isNaN(c.kendall));
  assert.ok(Number.isNaN(kendallTauB([1, 2, 3], [5, 5, 5])));
});

test('correlations match scipy.stats on series with ties', () => {
  for (const c of fixture.cases) {
    const got = correlate(c.x, c.y);
    assert.equal(got.n, c.x.length);
    assertClose(got.pearson, c.pearson, `${c.name} pearson`);
    assertClose(got.spearman, c.spearman, `${c.name} spearman`);
    assertClose(got.kendall, c.kendall, `${c.name} kendall`);
    assertClose(pearson(c.x, c.y), c.pearson, `${c.name} pearson()`);
    assertClose(spearman(c.x, c.y), c.spearman, `${c.name} spearman()`);
    assertClose(kendallTauB(c.x, c.y), c.kendall, `${c.name} kendallTauB()`);
  }
});

test("Knight's O(n log n) tau-b agrees with the O(n^2) definition", () => {
  const rng = createRng(5);
  for (const [n, levels] of [
    [2, 2],
    [7, 3],
    [500, 12],
    [513, 1000],
  ]) {
    const x = Array.from({ length: n }, () => rng.int(levels));
    const y = Array.from({ length: n }, (_, i) => rng.int(levels) + (x[i] >> 1));
    let s = 0;
    let tx = 0;
    let ty = 0;
    let n0 = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        n0++;
        s += Math.sign(x[i] - x[j]) * Math.sign(y[i] - y[j]);
        if (x[i] === x[j]) tx++;
        if (y[i] === y[j]) ty++;
      }
    }
    const want = s / Math.sqrt((n0 - tx) * (n0 - ty));
    const got = kendallTauB(x, y);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `n=${n}`);
    else assert.ok(Math.abs(got - want) <= 1e-12, `n=${n}: ${got} vs ${want}`);
  }
});

test('correlations reject bad input with a FidlabError', () => {
  throwsCode(() => correlate([1, 2, 3], [1, 2]), ErrorCode.SHAPE_MISMATCH, /x has 3, y has 2/);
  throwsCode(() => pearson([1], [1]), ErrorCode.TOO_FEW_SAMPLES, /at least 2 pairs, got 1/);
  throwsCode(() => spearman([1, NaN], [1, 2]), ErrorCode.NOT_FINITE, /spearman x.*NaN at index 1/);
  throwsCode(() => kendallTauB([1, 2], [1, Infinity]), ErrorCode.NOT_FINITE, /kendallTauB y/);
});
