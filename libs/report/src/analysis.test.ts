import assert from 'node:assert/strict';
import { test } from 'node:test';
import { correlate } from '@fidlab/fid-core';
import {
  bestEpochAgreement,
  cmcFamilies,
  detectJumps,
  pairCorrelation,
  rankSeparation,
  separation,
  sweepMetrics,
  Z95,
} from './analysis.js';
import type { MetricDetail, RunData, SweepData } from './types.js';

const spec = {
  name: 's',
  evaluate: {
    metrics: [
      { name: 'fid_a', kind: 'fid', extractor: 'vggface:fc6', bootstrap: 10 },
      { name: 'fid_b', kind: 'fid', extractor: 'vggface:pool5' },
      { name: 'rank_f', kind: 'rank-k', extractor: 'facerec', k: [1, 5] },
    ],
  },
  select: { metric: 'fid_a', goal: 'min' },
};

function run(id: number, values: Record<string, (number | [number, number, number])[]>): RunData {
  const n = Math.max(...Object.values(values).map((v) => v.length));
  return {
    id,
    key: `k${id}`,
    parameters: { model: id % 2 ? 'unet' : 'vae', seed: id },
    status: 'done',
    epochs: Array.from({ length: n }, (_, i) => {
      const details: Record<string, MetricDetail> = {};
      for (const [name, v] of Object.entries(values)) {
        const x = v[i];
        if (x === undefined) continue;
        details[name] = Array.isArray(x)
          ? { value: x[0], ciLow: x[1], ciHigh: x[2], extractor: 'e', extra: { protocol: 2 } }
          : { value: x, extractor: 'e', extra: { protocol: 2 } };
      }
      return { epoch: i + 1, details };
    }),
  };
}

test('metrics come in the sweep file order with kinds and goals; rank-k ks form a family', () => {
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [run(1, { 'rank_f@5': [0.5], fid_b: [3], fid_a: [1], rank_f: [0.2], loss: [1] })],
  };
  const m = sweepMetrics(sweep);
  assert.deepEqual(
    m.map((x) => [x.name, x.kind, x.goal, x.family ?? null, x.k ?? null]),
    [
      ['fid_a', 'fid', 'min', null, null],
      ['fid_b', 'fid', 'min', null, null],
      ['rank_f', 'rank-k', 'max', 'rank_f', 1],
      ['rank_f@5', 'rank-k', 'max', 'rank_f', 5],
      ['loss', 'loss', 'min', null, null],
    ],
  );
  assert.equal(m[0].bootstrap, 10);
  assert.deepEqual(m[0].protocols, [2]);
});

test('a CI jump: each value outside the other epoch\u2019s interval (the seed\u2019s 1.x -> 14.x)', () => {
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [
      run(1, {
        // 1.2 -> 1.5 moves within the CIs; 1.5 -> 14.3 is a jump; 14.3 -> 13 is not (13 is inside [12, 16]).
        fid_a: [
          [1.2, 0.9, 1.6],
          [1.5, 1.1, 1.9],
          [14.3, 12, 16],
          [13, 11.5, 14.5],
        ],
      }),
    ],
  };
  const j = detectJumps(sweep, 'fid_a');
  assert.equal(j.length, 1);
  assert.deepEqual([j[0].from, j[0].to, j[0].rule], [2, 3, 'ci']);
  assert.equal(j[0].score, (14.3 - 1.5) / 2); // the larger half-width is (16 - 12) / 2
});

test('without CIs a step is a jump when its robust z-score exceeds 3.5', () => {
  // Steps: -1, -1.1, -0.9, -1, +10 (run 1) and -1, -1 (run 2): only +10 is an outlier.
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [run(1, { fid_b: [10, 9, 7.9, 7, 6, 16] }), run(2, { fid_b: [5, 4, 3] })],
  };
  const j = detectJumps(sweep, 'fid_b');
  assert.deepEqual(
    j.map((x) => [x.runId, x.from, x.to, x.rule]),
    [[1, 5, 6, 'robust-z']],
  );
  // median -1, |d - med| = 0, .1, .1, 0, 11, 0, 0 -> MAD 0, mean AD 11.2/7
  const z = 11 / (1.2533141373155003 * (11.2 / 7));
  assert.ok(Math.abs(j[0].score - z) < 1e-12);
});

test('best epochs per run and how often metrics agree on them', () => {
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [
      run(1, { fid_a: [3, 1, 2], fid_b: [3, 1, 2], rank_f: [0.1, 0.5, 0.5] }),
      run(2, { fid_a: [3, 2, 1], fid_b: [1, 2, 3], rank_f: [0.1, 0.2, 0.6] }),
    ],
  };
  const a = bestEpochAgreement(sweep, sweepMetrics(sweep));
  assert.deepEqual(a.metrics, ['fid_a', 'fid_b', 'rank_f']);
  // run 1: all pick epoch 2 (rank_f ties 2 and 3: the lowest). run 2: 3, 1, 3.
  assert.deepEqual(
    a.runs.map((r) => [r.modalEpoch, r.modalCount, r.agreeingPairs, r.pairs]),
    [
      [2, 3, 3, 3],
      [3, 2, 1, 3],
    ],
  );
  assert.deepEqual([a.agreeingPairs, a.pairs], [4, 6]);
  assert.deepEqual(a.pairRate[0], [1, 0.5, 1]);
  assert.deepEqual(a.pairRate[1], [0.5, 1, 0.5]);
  assert.deepEqual(a.overall.fid_a, { runId: 1, epoch: 2, value: 1 });
  assert.deepEqual(a.overall.rank_f, { runId: 2, epoch: 3, value: 0.6 });
});

test('pair correlations are fid-core\u2019s over the (run, epoch) points both metrics have', () => {
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [run(2, { fid_a: [1, 2, 3], fid_b: [2, 1] }), run(1, { fid_a: [5, 4], fid_b: [7, 9] })],
  };
  const p = pairCorrelation(sweep, 'fid_a', 'fid_b');
  assert.deepEqual(
    p.points.map((q) => [q.runId, q.epoch]),
    [
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ],
  );
  const c = correlate([5, 4, 1, 2], [7, 9, 2, 1]);
  assert.deepEqual([p.n, p.pearson, p.spearman, p.kendall], [4, c.pearson, c.spearman, c.kendall]);
  const few = pairCorrelation({ ...sweep, runs: [sweep.runs[1]] }, 'fid_a', 'fid_b');
  assert.deepEqual([few.n, few.pearson], [2, null]);
});

test('CMC curves at each run\u2019s best epoch by the first k', () => {
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [run(1, { rank_f: [0.2, 0.4, 0.3], 'rank_f@5': [0.5, 0.7, 0.9] })],
  };
  const [f] = cmcFamilies(sweep, sweepMetrics(sweep));
  assert.equal(f.family, 'rank_f');
  assert.deepEqual(f.curves[0], {
    runId: 1,
    epoch: 2,
    points: [
      { k: 1, value: 0.4 },
      { k: 5, value: 0.7 },
    ],
    full: false,
  });
});

test('separation: between-run variance of window means over within-run noise, CI included', () => {
  // 6 epochs -> window = last 2. Run 1: 10, 12 (mean 11, var 2); run 2: 20, 20 (mean 20, var 0).
  const sweep: SweepData = {
    name: 's',
    spec,
    runs: [
      run(1, {
        fid_b: [0, 0, 0, 0, 10, 12],
        fid_a: [0, 0, 0, 0, [10, 10 - Z95, 10 + Z95], [12, 12 - Z95, 12 + Z95]],
      }),
      run(2, {
        fid_b: [9, 9, 9, 9, 20, 20],
        fid_a: [9, 9, 9, 9, [20, 20 - Z95, 20 + Z95], [20, 20 - Z95, 20 + Z95]],
      }),
    ],
  };
  const b = separation(sweep, 'fid_b');
  assert.deepEqual(
    b.runs.map((r) => [r.mean, r.epochs, r.fluctuation, r.ciVariance]),
    [
      [11, [5, 6], 2, 0],
      [20, [5, 6], 0, 0],
    ],
  );
  assert.equal(b.between, 40.5); // (81 / 2) with n - 1 = 1
  assert.equal(b.within, 1);
  assert.equal(b.ratio, 40.5);
  assert.equal(b.separatedPairs, 1);
  assert.equal(b.usesCi, false);
  // The same values with a CI of standard error 1 at every epoch: within grows by 1.
  const a = separation(sweep, 'fid_a');
  assert.ok(Math.abs(a.within - 2) < 1e-12);
  assert.ok(Math.abs(a.ratio! - 20.25) < 1e-9);
  assert.equal(a.usesCi, true);
  assert.deepEqual(
    rankSeparation(sweep, sweepMetrics(sweep)).map((s) => s.metric),
    ['fid_b', 'fid_a'],
  );
});
