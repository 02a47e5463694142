import { createHash } from 'node:crypto';
import { createRng } from '@fidlab/base';
import type { ParameterSpec, SweepSpec, TrialParameters } from './sweepSpec.js';

/** One trial of a sweep: its parameters (swept + fixed) and a key stable across re-runs. */
export interface Trial {
  /** 0-based position in the sweep's expansion order. */
  index: number;
  /** Short hash of the parameters: names the run directory and finds the run again on resume. */
  key: string;
  parameters: TrialParameters;
  /** Only the swept parameters, for display (`model=unet seed=2`). */
  swept: TrialParameters;
}

/** Canonical JSON (sorted keys) so that equal parameters always hash alike. */
function canonical(p: TrialParameters): string {
  return JSON.stringify(Object.fromEntries(Object.entries(p).sort(([a], [b]) => (a < b ? -1 : 1))));
}

export function trialKey(p: TrialParameters): string {
  return createHash('sha256').update(canonical(p)).digest('hex').slice(0, 12);
}

export function describeTrial(t: Pick<Trial, 'swept'>): string {
  const parts = Object.entries(t.swept).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(' ') : '(single trial)';
}

function drawFromRange(spec: Exclude<ParameterSpec, { values: unknown }>, u: number): number {
  const x =
    spec.scale === 'log'
      ? Math.exp(Math.log(spec.min) + u * (Math.log(spec.max) - Math.log(spec.min)))
      : spec.min + u * (spec.max - spec.min);
  return spec.integer ? Math.min(spec.max, Math.floor(x + 0.5)) : x;
}

/**
 * Grid: the cartesian product, the first parameter varying slowest (file order). Random: `count`
 * draws from the sweep's seed, each parameter uniformly from its values (or range); duplicate
 * draws are kept once, so a small grid sampled often gives fewer trials than `count`.
 */
export function expandTrials(spec: SweepSpec): Trial[] {
  const names = Object.keys(spec.parameters);
  const fixed = spec.fixed as TrialParameters;
  const combos: TrialParameters[] = [];
  if (spec.method === 'grid') {
    let acc: TrialParameters[] = [{}];
    for (const n of names) {
      const s = spec.parameters[n];
      const values = 'values' in s ? s.values : [];
      acc = acc.flatMap((p) => values.map((v) => ({ ...p, [n]: v })));
    }
    combos.push(...acc);
  } else {
    const rng = createRng(spec.seed);
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const p: TrialParameters = {};
      for (const n of names) {
        const s = spec.parameters[n];
        const u = rng.next();
        (p as Record<string, string | number>)[n] =
          'values' in s
            ? s.values[Math.min(s.values.length - 1, Math.floor(u * s.values.length))]
            : drawFromRange(s, u);
      }
      combos.push(p);
    }
  }
  const seen = new Set<string>();
  const trials: Trial[] = [];
  for (const swept of combos) {
    const parameters = { ...fixed, ...swept };
    const key = trialKey(parameters);
    if (seen.has(key)) continue;
    seen.add(key);
    trials.push({ index: trials.length, key, parameters, swept });
  }
  return trials;
}
