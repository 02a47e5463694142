import {
  bootstrapFid,
  frechetDistance,
  kid,
  KID_DEFAULTS,
  rankK,
  type Matrix,
} from '@fidlab/fid-core';
import { DEFAULT_RANK_KS, type ValueRecipe } from '@fidlab/features';
import type { JsonValue, MetricRecord } from './ports.js';
import type { MetricSpec } from './sweepSpec.js';

/**
 * One number recorded for (run, epoch, name): the recorder port's row (ports.ts `MetricRecord`,
 * which the store implements), with the fields every evaluated value has filled in.
 */
export type MetricValue = Omit<MetricRecord, 'extractor' | 'n1' | 'n2' | 'extra'> & {
  extractor: string;
  n1: number;
  n2: number;
  /** How it was computed (`method`, `kid_std`, ...), `protocol` and `recipe` (ValueRecipe). */
  extra?: { [key: string]: JsonValue };
};

/** Features of one evaluation: generated images and their ground truth, row i paired with row i. */
export interface FeaturePair {
  generated: Matrix;
  real: Matrix;
  /** Identity of each row (both sets share them); rank-k needs them. */
  identities: (string | null)[];
}

/**
 * What made the features, for the recipe of every value computed from them: the recipe fields
 * that do not depend on the metric's kind.
 */
export type FeatureRecipe = Omit<
  Extract<ValueRecipe, { kind: 'fid' }>,
  'kind' | 'bootstrap' | 'seed'
>;

/** The names of the values one metric yields: its own, and `<name>@<k>` for rank-k's other ks. */
export function metricValueNames(spec: MetricSpec): string[] {
  if (spec.kind !== 'rank-k') return [spec.name];
  return (spec.k ?? DEFAULT_RANK_KS).map((k, i) => (i === 0 ? spec.name : `${spec.name}@${k}`));
}

/**
 * The values of one metric. `fid` and `kid` compare the two sets as distributions; `rank-k`
 * uses each generated image as a probe against the gallery of ground-truth images and yields one
 * value per k: the first k under the metric's own name, the others as `<name>@<k>`. With
 * `features`, every value carries its complete recipe as `extra.recipe` (kind, its options as
 * used, and `features`).
 */
export function metricValues(
  spec: MetricSpec,
  extractor: string,
  f: FeaturePair,
  features?: FeatureRecipe,
): MetricValue[] {
  const base = { extractor, n1: f.generated.rows, n2: f.real.rows };
  const names: [string, string] = ['generated', 'ground truth'];
  const withRecipe = (
    extra: { [key: string]: JsonValue },
    recipe: Pick<ValueRecipe, 'kind'> & { [key: string]: JsonValue },
  ): { [key: string]: JsonValue } =>
    features ? { ...extra, recipe: { ...recipe, ...features } as unknown as JsonValue } : extra;
  switch (spec.kind) {
    case 'fid': {
      if (spec.bootstrap && spec.bootstrap >= 2) {
        const b = bootstrapFid(f.generated, f.real, { resamples: spec.bootstrap, names });
        return [
          {
            ...base,
            name: spec.name,
            value: b.fid.fid,
            ciLow: b.ci95[0],
            ciHigh: b.ci95[1],
            extra: withRecipe(
              { method: b.fid.method, bootstrap: b.resamples, percentile95: b.percentile95 },
              { kind: 'fid', bootstrap: b.resamples, seed: b.seed },
            ),
          },
        ];
      }
      const r = frechetDistance(f.generated, f.real, { names });
      return [
        {
          ...base,
          name: spec.name,
          value: r.fid,
          extra: withRecipe({ method: r.method }, { kind: 'fid', bootstrap: 0, seed: null }),
        },
      ];
    }
    case 'kid': {
      const requested = spec.subset_size ?? KID_DEFAULTS.subsetSize;
      const subsetSize = Math.min(requested, f.generated.rows, f.real.rows);
      const { seed } = KID_DEFAULTS;
      const r = kid(f.generated, f.real, {
        subsetSize,
        subsets: spec.subsets ?? KID_DEFAULTS.subsets,
        seed,
      });
      return [
        {
          ...base,
          name: spec.name,
          value: r.kid,
          extra: withRecipe(
            { kid_std: r.kidStd, subsets: r.subsets, subset_size: r.subsetSize },
            { kind: 'kid', subsets: r.subsets, subset_size: r.subsetSize, seed },
          ),
        },
      ];
    }
    case 'rank-k': {
      const ks = spec.k ?? [...DEFAULT_RANK_KS];
      const names = metricValueNames(spec);
      const labels = f.identities.map((id, i) => id ?? `#${i}`);
      const r = rankK(f.generated, f.real, { ks, probeLabels: labels, galleryLabels: labels });
      return ks.map((k, i) => ({
        ...base,
        name: names[i],
        value: r.rank[String(k)],
        // The first value also keeps the whole CMC curve (cmc[r - 1]: accuracy at rank r) for
        // the report's CMC plots; one number per gallery identity.
        extra: withRecipe(
          { k, gallery_identities: r.galleryIdentities, ...(i === 0 ? { cmc: r.cmc } : {}) },
          { kind: 'rank-k', k },
        ),
      }));
    }
  }
}
