// The numbers of the report, computed from stored values only (no orchestration, no I/O): each
// metric's curves and jumps, the best epoch per run and metric and how often metrics agree on it,
// metric-against-metric correlations (fid-core's correlate), CMC curves of identity metrics, and
// how well each metric separates the runs (generators) given its own measurement noise.
import { correlate } from '@fidlab/fid-core';
import type { MetricDetail, RunData, SweepData } from './types.js';

export type Goal = 'min' | 'max';
export type MetricKind = 'fid' | 'kid' | 'rank-k' | 'accuracy' | 'loss' | 'other';

/** z of the two-sided 95% normal interval: a CI's half-width over this is its standard error. */
export const Z95 = 1.959963984540054;
/** Robust z-score threshold for a jump when there is no CI (Iglewicz & Hoaglin 1993). */
export const ROBUST_Z_THRESHOLD = 3.5;
/** At least this many steps of a metric are needed before a robust z-score means anything. */
export const ROBUST_Z_MIN_STEPS = 4;
/** 1 / Phi^-1(3/4): MAD * this estimates the standard deviation of normal data. */
const MAD_SCALE = 1.482602218505602;
/** sqrt(pi / 2): mean absolute deviation * this estimates the standard deviation (when MAD = 0). */
const MEAN_AD_SCALE = 1.2533141373155003;

export interface MetricInfo {
  name: string;
  kind: MetricKind;
  goal: Goal;
  /** rank-k metrics: the family (the sweep metric's name, or `rank` for identity trials) and k. */
  family?: string;
  k?: number;
  /** How the sweep file named the extractor (a `best` reference is written out). */
  declaredExtractor?: string;
  bootstrap?: number;
  /** Concrete extractors recorded with the values, distinct. */
  extractors: string[];
  /** Evaluation protocols of the values, distinct ascending. */
  protocols: number[];
  /** `extra.recipe` of the values, distinct (JSON-stringified for comparison). */
  recipes: unknown[];
  /** Sample counts (generated, ground truth), distinct. */
  samples: string[];
}

interface SpecMetric {
  name: string;
  kind: 'fid' | 'kid' | 'rank-k';
  extractor: unknown;
  bootstrap?: number;
  k?: number[];
}

function asObject(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : null;
}

function specMetrics(spec: unknown): SpecMetric[] {
  const metrics = asObject(asObject(spec)?.evaluate)?.metrics;
  return Array.isArray(metrics) ? (metrics as SpecMetric[]) : [];
}

/** The sweep file's trial kind (`pix2pix` unless it says `identity`). */
export function trialOf(spec: unknown): 'pix2pix' | 'identity' {
  return asObject(spec)?.trial === 'identity' ? 'identity' : 'pix2pix';
}

function describeExtractor(e: unknown): string | undefined {
  if (typeof e === 'string') return e;
  const o = asObject(e);
  const best = asObject(o?.best);
  if (!o || !best) return undefined;
  const goal = best.goal ? `, ${String(best.goal)}` : '';
  return `best of sweep ${String(best.sweep)} by ${String(best.metric)}${goal}, tap ${String(o.tap)}${o.pool ? ' (avg)' : ''}`;
}

/**
 * Kind and goal of a metric name: from the sweep file (fid and kid are minimised, rank-k
 * maximised; a rank-k metric's other ks are `<name>@<k>`), identity trials' own metrics
 * (`rank_<k>` and `train_accuracy` maximised, `loss` minimised), else guessed from the name.
 */
export function metricInfo(
  name: string,
  spec: unknown,
): Omit<MetricInfo, 'extractors' | 'protocols' | 'recipes' | 'samples'> {
  for (const m of specMetrics(spec)) {
    const bootstrap = m.bootstrap !== undefined ? { bootstrap: m.bootstrap } : {};
    const declaredExtractor = describeExtractor(m.extractor);
    if (m.kind === 'rank-k') {
      const ks = m.k ?? [1, 5, 10];
      const i = ks.findIndex((k, j) => (j === 0 ? m.name : `${m.name}@${k}`) === name);
      if (i >= 0)
        return { name, kind: 'rank-k', goal: 'max', family: m.name, k: ks[i], declaredExtractor };
    } else if (m.name === name) {
      return { name, kind: m.kind, goal: 'min', declaredExtractor, ...bootstrap };
    }
  }
  const rank = /^rank_(\d+)$/.exec(name);
  if (rank) return { name, kind: 'rank-k', goal: 'max', family: 'rank', k: Number(rank[1]) };
  if (/acc/.test(name)) return { name, kind: 'accuracy', goal: 'max' };
  if (/loss/.test(name)) return { name, kind: 'loss', goal: 'min' };
  if (/^fid/.test(name)) return { name, kind: 'fid', goal: 'min' };
  if (/^kid/.test(name)) return { name, kind: 'kid', goal: 'min' };
  return { name, kind: 'other', goal: 'min' };
}

function protocolOf(extra: unknown): number {
  const p = asObject(extra)?.protocol;
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 ? p : 1;
}

/**
 * Every metric recorded in the sweep, in the sweep file's order (then by name), with what the
 * values say about how they were made.
 */
export function sweepMetrics(sweep: SweepData): MetricInfo[] {
  const seen = new Map<string, MetricInfo>();
  const recipeKeys = new Map<string, Set<string>>();
  for (const run of sweep.runs)
    for (const e of run.epochs)
      for (const [name, d] of Object.entries(e.details)) {
        let info = seen.get(name);
        if (!info) {
          info = {
            ...metricInfo(name, sweep.spec),
            extractors: [],
            protocols: [],
            recipes: [],
            samples: [],
          };
          seen.set(name, info);
          recipeKeys.set(name, new Set());
        }
        if (d.extractor && !info.extractors.includes(d.extractor))
          info.extractors.push(d.extractor);
        const p = protocolOf(d.extra);
        if (!info.protocols.includes(p)) info.protocols.push(p);
        const recipe = asObject(d.extra)?.recipe;
        if (recipe !== undefined) {
          const key = JSON.stringify(recipe);
          if (!recipeKeys.get(name)!.has(key)) {
            recipeKeys.get(name)!.add(key);
            info.recipes.push(recipe);
          }
        }
        if (d.n1 != null || d.n2 != null) {
          const s = `${d.n1 ?? '?'} generated / ${d.n2 ?? '?'} ground truth`;
          if (!info.samples.includes(s)) info.samples.push(s);
        }
      }
  const order = new Map<string, number>();
  specMetrics(sweep.spec).forEach((m, i) => order.set(m.name, i));
  const rankOf = (m: MetricInfo) => order.get(m.family ?? m.name) ?? Number.MAX_SAFE_INTEGER;
  const out = [...seen.values()];
  for (const m of out) m.protocols.sort((a, b) => a - b);
  return out.sort(
    (a, b) => rankOf(a) - rankOf(b) || (a.k ?? 0) - (b.k ?? 0) || a.name.localeCompare(b.name),
  );
}

/** A short label of a run: its parameters that differ between the sweep's runs (`model=unet seed=1`). */
export function runLabels(runs: RunData[]): Map<number, string> {
  const params = runs.map((r) => asObject(r.parameters) ?? {});
  const keys = [...new Set(params.flatMap((p) => Object.keys(p)))].sort();
  const varying = keys.filter((k) => new Set(params.map((p) => JSON.stringify(p[k]))).size > 1);
  const out = new Map<number, string>();
  runs.forEach((r, i) => {
    const label = varying.map((k) => `${k}=${formatParam(params[i][k])}`).join(' ');
    out.set(r.id, label || r.key);
  });
  return out;
}

function formatParam(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export interface SeriesPoint {
  epoch: number;
  value: number;
  ciLow: number | null;
  ciHigh: number | null;
}

/** One run's values of one metric by ascending epoch. */
export function series(run: RunData, metric: string): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (const e of run.epochs) {
    const d: MetricDetail | undefined = e.details[metric];
    if (!d) continue;
    out.push({ epoch: e.epoch, value: d.value, ciLow: d.ciLow ?? null, ciHigh: d.ciHigh ?? null });
  }
  return out.sort((a, b) => a.epoch - b.epoch);
}

function hasCi(p: SeriesPoint): p is SeriesPoint & { ciLow: number; ciHigh: number } {
  return (
    p.ciLow !== null && p.ciHigh !== null && Number.isFinite(p.ciLow) && Number.isFinite(p.ciHigh)
  );
}

export interface Jump {
  runId: number;
  metric: string;
  /** The step from epoch `from` (previous evaluated epoch) to epoch `to`. */
  from: number;
  to: number;
  before: number;
  after: number;
  delta: number;
  /** 'ci': both epochs have a 95% CI; 'robust-z': the step is an outlier among the metric's steps. */
  rule: 'ci' | 'robust-z';
  /** ci: |delta| / the larger CI half-width; robust-z: |z|. */
  score: number;
}

/**
 * Jumps: steps between consecutive evaluated epochs of a run where a metric moves by more than
 * its own uncertainty.
 *
 * - Both epochs have a 95% CI (bootstrapped FID): a jump when each value lies outside the other
 *   epoch's interval, i.e. after is not in [lo_before, hi_before] and before is not in
 *   [lo_after, hi_after]. For symmetric intervals this is |delta| > max(h_before, h_after), h the
 *   half-widths; it also holds for the bias-shifted, asymmetric intervals fidlab records.
 *   score = |delta| / max(h_before, h_after), h = (hi - lo) / 2.
 * - Otherwise (KID, rank-k, FID without bootstrap): the step's robust z-score among all steps of
 *   that metric in the sweep (every run pooled, since one run has few epochs):
 *   z = (delta - median) / (1.4826 MAD), or (delta - median) / (1.2533 mean |delta - median|)
 *   when MAD = 0 (Iglewicz & Hoaglin's modified z); a jump when |z| > 3.5. Needs at least 4
 *   steps; when every step is equal nothing is a jump.
 */
export function detectJumps(sweep: SweepData, metric: string): Jump[] {
  const jumps: Jump[] = [];
  const noCi: Omit<Jump, 'rule' | 'score'>[] = [];
  for (const run of sweep.runs) {
    const s = series(run, metric);
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1];
      const b = s[i];
      const step = {
        runId: run.id,
        metric,
        from: a.epoch,
        to: b.epoch,
        before: a.value,
        after: b.value,
        delta: b.value - a.value,
      };
      if (hasCi(a) && hasCi(b)) {
        const outside = (v: number, lo: number, hi: number) => v < lo || v > hi;
        const h = Math.max((a.ciHigh - a.ciLow) / 2, (b.ciHigh - b.ciLow) / 2);
        if (outside(b.value, a.ciLow, a.ciHigh) && outside(a.value, b.ciLow, b.ciHigh))
          jumps.push({ ...step, rule: 'ci', score: h > 0 ? Math.abs(step.delta) / h : Infinity });
      } else {
        noCi.push(step);
      }
    }
  }
  if (noCi.length >= ROBUST_Z_MIN_STEPS) {
    const deltas = noCi.map((s) => s.delta);
    const med = median(deltas);
    const mad = median(deltas.map((d) => Math.abs(d - med)));
    const meanAd = deltas.reduce((t, d) => t + Math.abs(d - med), 0) / deltas.length;
    const scale = mad > 0 ? MAD_SCALE * mad : MEAN_AD_SCALE * meanAd;
    if (scale > 0)
      for (const s of noCi) {
        const z = (s.delta - med) / scale;
        if (Math.abs(z) > ROBUST_Z_THRESHOLD)
          jumps.push({ ...s, rule: 'robust-z', score: Math.abs(z) });
      }
  }
  return jumps.sort((a, b) => a.runId - b.runId || a.to - b.to);
}

export function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface BestEpoch {
  epoch: number;
  value: number;
}

/** The best epoch of one run by one metric (ties: the lowest epoch, as the store's `best`). */
export function bestEpoch(run: RunData, metric: string, goal: Goal): BestEpoch | null {
  let best: BestEpoch | null = null;
  for (const p of series(run, metric)) {
    if (!best || (goal === 'min' ? p.value < best.value : p.value > best.value))
      best = { epoch: p.epoch, value: p.value };
  }
  return best;
}

export interface RunAgreement {
  runId: number;
  /** metric -> best epoch in this run (metrics without values are absent). */
  best: Record<string, BestEpoch>;
  /** The epoch most metrics pick (ties: the lowest) and how many pick it. */
  modalEpoch: number | null;
  modalCount: number;
  /** Metric pairs that pick the same epoch, of all pairs with values in this run. */
  agreeingPairs: number;
  pairs: number;
}

export interface Agreement {
  metrics: string[];
  runs: RunAgreement[];
  /** pairRate[i][j]: fraction of runs (with both metrics) where metrics i and j pick the same epoch. */
  pairRate: (number | null)[][];
  /** All runs pooled: agreeing (run, pair)s over all (run, pair)s. */
  agreeingPairs: number;
  pairs: number;
  /** Best (run, epoch) over the whole sweep per metric. */
  overall: Record<string, { runId: number; epoch: number; value: number }>;
}

/**
 * Best epochs per run and metric and how often the metrics agree on them: per run, the epoch
 * most metrics pick and the fraction of metric pairs that pick the same epoch; per pair, the
 * fraction of runs where both pick the same epoch; overall, the pooled fraction.
 */
export function bestEpochAgreement(sweep: SweepData, metrics: MetricInfo[]): Agreement {
  const names = metrics.map((m) => m.name);
  const agree = names.map(() => names.map(() => 0));
  const both = names.map(() => names.map(() => 0));
  const runs: RunAgreement[] = [];
  let agreeingPairs = 0;
  let pairs = 0;
  const overall: Agreement['overall'] = {};
  for (const run of sweep.runs) {
    const best: Record<string, BestEpoch> = {};
    metrics.forEach((m) => {
      const b = bestEpoch(run, m.name, m.goal);
      if (!b) return;
      best[m.name] = b;
      const o = overall[m.name];
      if (!o || (m.goal === 'min' ? b.value < o.value : b.value > o.value))
        overall[m.name] = { runId: run.id, epoch: b.epoch, value: b.value };
    });
    let runAgree = 0;
    let runPairs = 0;
    for (let i = 0; i < names.length; i++)
      for (let j = i + 1; j < names.length; j++) {
        const a = best[names[i]];
        const b = best[names[j]];
        if (!a || !b) continue;
        runPairs++;
        both[i][j]++;
        if (a.epoch === b.epoch) {
          runAgree++;
          agree[i][j]++;
        }
      }
    const counts = new Map<number, number>();
    for (const b of Object.values(best)) counts.set(b.epoch, (counts.get(b.epoch) ?? 0) + 1);
    let modalEpoch: number | null = null;
    let modalCount = 0;
    for (const [epoch, c] of [...counts].sort((x, y) => x[0] - y[0]))
      if (c > modalCount) {
        modalEpoch = epoch;
        modalCount = c;
      }
    runs.push({
      runId: run.id,
      best,
      modalEpoch,
      modalCount,
      agreeingPairs: runAgree,
      pairs: runPairs,
    });
    agreeingPairs += runAgree;
    pairs += runPairs;
  }
  const pairRate = names.map((_, i) =>
    names.map((_, j) => {
      if (i === j) return 1;
      const [a, b] = i < j ? [i, j] : [j, i];
      return both[a][b] > 0 ? agree[a][b] / both[a][b] : null;
    }),
  );
  return { metrics: names, runs, pairRate, agreeingPairs, pairs, overall };
}

export interface PairPoint {
  runId: number;
  epoch: number;
  a: number;
  b: number;
}

export interface PairCorrelation {
  a: string;
  b: string;
  n: number;
  /** null where undefined (a constant series) or fewer than 3 points. */
  pearson: number | null;
  spearman: number | null;
  kendall: number | null;
  points: PairPoint[];
}

/** Minimum (run, epoch) points for a correlation (as the store's `correlate`). */
export const MIN_CORRELATION_POINTS = 3;

/**
 * Metric a against metric b over every (run, epoch) where both were recorded, ordered by run id
 * then epoch (the store's `correlate` order), with fid-core's Pearson, Spearman and Kendall tau-b.
 */
export function pairCorrelation(sweep: SweepData, a: string, b: string): PairCorrelation {
  const points: PairPoint[] = [];
  for (const run of [...sweep.runs].sort((x, y) => x.id - y.id))
    for (const e of [...run.epochs].sort((x, y) => x.epoch - y.epoch)) {
      const da = e.details[a];
      const db = e.details[b];
      if (da && db) points.push({ runId: run.id, epoch: e.epoch, a: da.value, b: db.value });
    }
  const none = { pearson: null, spearman: null, kendall: null };
  if (points.length < MIN_CORRELATION_POINTS) return { a, b, n: points.length, ...none, points };
  const c = correlate(
    points.map((p) => p.a),
    points.map((p) => p.b),
  );
  const nan = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    a,
    b,
    n: points.length,
    pearson: nan(c.pearson),
    spearman: nan(c.spearman),
    kendall: nan(c.kendall),
    points,
  };
}

/** Every unordered pair of the metrics, in order. */
export function allPairs(sweep: SweepData, metrics: MetricInfo[]): PairCorrelation[] {
  const out: PairCorrelation[] = [];
  for (let i = 0; i < metrics.length; i++)
    for (let j = i + 1; j < metrics.length; j++)
      out.push(pairCorrelation(sweep, metrics[i].name, metrics[j].name));
  return out;
}

export interface CmcCurve {
  runId: number;
  /** The epoch the curve is read at: the run's best by the family's first k. */
  epoch: number;
  /** (k, accuracy) by ascending k; the full curve when `extra.cmc` was stored. */
  points: { k: number; value: number }[];
  full: boolean;
}

export interface CmcFamily {
  family: string;
  metrics: string[];
  curves: CmcCurve[];
}

/**
 * CMC curves of identity (rank-k) metrics: one per run, read at the run's best epoch by the
 * family's smallest k. The recorded ks give the points; a value that stored its whole curve
 * (`extra.cmc`, cmc[r - 1] = accuracy at rank r) gives every rank.
 */
export function cmcFamilies(sweep: SweepData, metrics: MetricInfo[]): CmcFamily[] {
  const families = new Map<string, MetricInfo[]>();
  for (const m of metrics)
    if (m.kind === 'rank-k' && m.family !== undefined && m.k !== undefined) {
      const list = families.get(m.family) ?? [];
      list.push(m);
      families.set(m.family, list);
    }
  const out: CmcFamily[] = [];
  for (const [family, list] of families) {
    list.sort((a, b) => a.k! - b.k!);
    const curves: CmcCurve[] = [];
    for (const run of sweep.runs) {
      const b = bestEpoch(run, list[0].name, 'max');
      if (!b) continue;
      const e = run.epochs.find((x) => x.epoch === b.epoch)!;
      const stored = asObject(e.details[list[0].name]?.extra)?.cmc;
      if (Array.isArray(stored) && stored.every((v) => typeof v === 'number')) {
        curves.push({
          runId: run.id,
          epoch: b.epoch,
          points: (stored as number[]).map((value, i) => ({ k: i + 1, value })),
          full: true,
        });
        continue;
      }
      const points = list
        .filter((m) => e.details[m.name])
        .map((m) => ({ k: m.k!, value: e.details[m.name].value }));
      curves.push({ runId: run.id, epoch: b.epoch, points, full: false });
    }
    out.push({ family, metrics: list.map((m) => m.name), curves });
  }
  return out;
}

export interface RunSpread {
  runId: number;
  /** Mean of the run's values over its window (the last third of its evaluated epochs). */
  mean: number;
  epochs: number[];
  /** Sample variance of those values (epoch-to-epoch fluctuation; 0 for one epoch). */
  fluctuation: number;
  /** Mean squared standard error from the 95% CIs, ((hi - lo) / (2 * 1.96))^2; 0 without CIs. */
  ciVariance: number;
}

export interface Separation {
  metric: string;
  runs: RunSpread[];
  /** Sample variance of the run means. */
  between: number;
  /** Mean over runs of fluctuation + ciVariance: the noise of one reading of one run. */
  within: number;
  /** between / within (Infinity when within is 0 and between is not; null with < 2 runs). */
  ratio: number | null;
  /** Run pairs whose means differ by more than 1.96 sqrt(w_r + w_s), of all pairs. */
  separatedPairs: number;
  pairs: number;
  /** True when at least one run had a CI (the bootstrap's variance is in `within`). */
  usesCi: boolean;
}

/**
 * How well a metric separates the runs (the generators), scale-free so that layers with very
 * different magnitudes (fc6's FID ~ 1e5, pool5-avg's ~ 1) compare:
 *
 *   window_r   = the last ceil(n_r / 3) of run r's n_r evaluated epochs (at least min(2, n_r)),
 *   mean_r     = mean of the values over window_r,
 *   w_r        = var_e(values over window_r) + mean_e(((hi_e - lo_e) / (2 z_95))^2),
 *   between    = sample variance of mean_r over runs,  within = mean_r(w_r),
 *   S          = between / within.
 *
 * w_r is the noise of one reading: the epoch-to-epoch fluctuation once training has settled plus
 * the bootstrap's sampling variance (its CI taken as a normal interval). S > 1 means the runs
 * differ by more than a reading's noise; higher is better. A pair of runs counts as separated when
 * |mean_r - mean_s| > 1.96 sqrt(w_r + w_s).
 */
export function separation(sweep: SweepData, metric: string): Separation {
  const runs: RunSpread[] = [];
  let usesCi = false;
  for (const run of sweep.runs) {
    const s = series(run, metric);
    if (s.length === 0) continue;
    const w = Math.max(Math.ceil(s.length / 3), Math.min(2, s.length));
    const win = s.slice(s.length - w);
    const mean = win.reduce((t, p) => t + p.value, 0) / win.length;
    const fluctuation =
      win.length > 1 ? win.reduce((t, p) => t + (p.value - mean) ** 2, 0) / (win.length - 1) : 0;
    let ciVariance = 0;
    for (const p of win)
      if (hasCi(p)) {
        usesCi = true;
        ciVariance += ((p.ciHigh - p.ciLow) / (2 * Z95)) ** 2;
      }
    ciVariance /= win.length;
    runs.push({ runId: run.id, mean, epochs: win.map((p) => p.epoch), fluctuation, ciVariance });
  }
  const noise = runs.map((r) => r.fluctuation + r.ciVariance);
  const within = noise.length ? noise.reduce((t, v) => t + v, 0) / noise.length : NaN;
  let between = NaN;
  let ratio: number | null = null;
  if (runs.length >= 2) {
    const m = runs.reduce((t, r) => t + r.mean, 0) / runs.length;
    between = runs.reduce((t, r) => t + (r.mean - m) ** 2, 0) / (runs.length - 1);
    ratio = within > 0 ? between / within : between > 0 ? Infinity : null;
  }
  let separatedPairs = 0;
  let pairs = 0;
  for (let i = 0; i < runs.length; i++)
    for (let j = i + 1; j < runs.length; j++) {
      pairs++;
      if (Math.abs(runs[i].mean - runs[j].mean) > Z95 * Math.sqrt(noise[i] + noise[j]))
        separatedPairs++;
    }
  return { metric, runs, between, within, ratio, separatedPairs, pairs, usesCi };
}

/** Separation of every metric, best first (undefined ratios last). */
export function rankSeparation(sweep: SweepData, metrics: MetricInfo[]): Separation[] {
  return metrics
    .map((m) => separation(sweep, m.name))
    .sort((a, b) => (b.ratio ?? -1) - (a.ratio ?? -1) || a.metric.localeCompare(b.metric));
}
