import { bootstrapFid, frechetDistance, kid, rankK, type Matrix } from '@fidlab/fid-core';
import type { JsonValue } from './ports.js';
import type { MetricSpec } from './sweepSpec.js';

/** One number the store keeps for (run, epoch, name). */
export interface MetricValue {
  name: string;
  value: number;
  ciLow?: number | null;
  ciHigh?: number | null;
  /** The extractor that produced the features (resolved: a `best` reference names its checkpoint). */
  extractor: string;
  n1: number;
  n2: number;
  extra?: { [key: string]: JsonValue };
}

/** Features of one evaluation: generated images and their ground truth, row i paired with row i. */
export interface FeaturePair {
  generated: Matrix;
  real: Matrix;
  /** Identity of each row (both sets share them); rank-k needs them. */
  identities: (string | null)[];
}

/** The names of the values one metric yields: its own, and `<name>@<k>` for rank-k's other ks. */
export function metricValueNames(spec: MetricSpec): string[] {
  if (spec.kind !== 'rank-k') return [spec.name];
  return (spec.k ?? [1, 5, 10]).map((k, i) => (i === 0 ? spec.name : `${spec.name}@${k}`));
}

/**
 * The values of one metric. `fid` and `kid` compare the two sets as distributions; `rank-k`
 * uses each generated image as a probe against the gallery of ground-truth images and yields one
 * value per k: the first k under the metric's own name, the others as `<name>@<k>`.
 */
export function metricValues(spec: MetricSpec, extractor: string, f: FeaturePair): MetricValue[] {
  const base = { extractor, n1: f.generated.rows, n2: f.real.rows };
  const names: [string, string] = ['generated', 'ground truth'];
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
            extra: { method: b.fid.method, bootstrap: b.resamples, percentile95: b.percentile95 },
          },
        ];
      }
      const r = frechetDistance(f.generated, f.real, { names });
      return [{ ...base, name: spec.name, value: r.fid, extra: { method: r.method } }];
    }
    case 'kid': {
      const subsetSize = Math.min(1000, f.generated.rows, f.real.rows);
      const r = kid(f.generated, f.real, { subsetSize });
      return [
        {
          ...base,
          name: spec.name,
          value: r.kid,
          extra: { kid_std: r.kidStd, subsets: r.subsets, subset_size: r.subsetSize },
        },
      ];
    }
    case 'rank-k': {
      const ks = spec.k ?? [1, 5, 10];
      const names = metricValueNames(spec);
      const labels = f.identities.map((id, i) => id ?? `#${i}`);
      const r = rankK(f.generated, f.real, { ks, probeLabels: labels, galleryLabels: labels });
      return ks.map((k, i) => ({
        ...base,
        name: names[i],
        value: r.rank[String(k)],
        // The first value also keeps the whole CMC curve (cmc[r - 1]: accuracy at rank r) for
        // the report's CMC plots; one number per gallery identity.
        extra: {
          k,
          gallery_identities: r.galleryIdentities,
          ...(i === 0 ? { cmc: r.cmc } : {}),
        },
      }));
    }
  }
}
