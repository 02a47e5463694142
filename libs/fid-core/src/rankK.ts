import { ErrorCode, FidlabError } from '@fidlab/base';
import { gemmNT } from './linalg/gemm.js';
import { assertFinite, type Matrix } from './matrix.js';

export type RankKMetric = 'cosine' | 'euclidean';

export interface RankKOptions {
  /** Ranks reported in `rank` (default [1, 5, 10]); each a positive integer. */
  ks?: number[];
  /** Distance between feature rows (default 'cosine'). */
  metric?: RankKMetric;
  /** Identity of each probe row; give both label arrays or neither. */
  probeLabels?: ArrayLike<string | number>;
  /** Identity of each gallery row (several rows may share one). */
  galleryLabels?: ArrayLike<string | number>;
}

export interface RankKResult {
  /** rank[String(k)] = cmc[min(k, galleryIdentities) - 1] for each requested k. */
  rank: Record<string, number>;
  /** cmc[r - 1] = fraction of probes whose rank is <= r, for r = 1..galleryIdentities. */
  cmc: number[];
  metric: RankKMetric;
  probes: number;
  galleryIdentities: number;
}

export const RANK_K_DEFAULT_KS: readonly number[] = [1, 5, 10];

/**
 * Relative tolerance under which two distances count as a tie. gemmNT may return the same pair's
 * dot product with different last bits depending on where the pair sits in its register block,
 * so gallery images that are exact duplicates need not come out exactly equal; 1e-10 is far above
 * that rounding (about d * 2^-53 relative) and far below any real difference between faces. The
 * scale is 1 for cosine distance and ||p||^2 + max_j ||g_j||^2 for squared euclidean distance.
 */
export const RANK_K_TIE_RTOL = 1e-10;

/**
 * Closed-set identification accuracy: rank-k and the cumulative match characteristic (CMC).
 *
 * Distances between every probe [n_p, d] and gallery [n_g, d] row come from one gemmNT:
 *   cosine:    D_ij = 1 - p_i . g_j / (||p_i|| ||g_j||)   (a zero row is an error),
 *   euclidean: D_ij = ||p_i||^2 + ||g_j||^2 - 2 p_i . g_j (squared: same ranking).
 *
 * Without labels, probe i's identity is gallery row i (so n_p must equal n_g) and every gallery
 * row is its own identity. With labels (compared with SameValueZero: 1 and '1' are different
 * identities), each identity's distance to a probe is that of its closest gallery image, and
 *
 *   rank(probe) = 1 + #{identities c != true : best_c <= best_true}.
 *
 * Tie rule (pessimistic): an identity exactly as close as the true one (within RANK_K_TIE_RTOL)
 * counts against the probe, so the result never depends on gallery order. A probe whose identity
 * has no gallery image is an error (closed set).
 *
 * cmc[r - 1] = #{probes : rank <= r} / n_p for r = 1..G, G the number of gallery identities, and
 * rank[String(k)] = cmc[min(k, G) - 1] (the key keeps the k that was asked for).
 */
export function rankK(probe: Matrix, gallery: Matrix, opts: RankKOptions = {}): RankKResult {
  const metric = opts.metric ?? 'cosine';
  if (metric !== 'cosine' && metric !== 'euclidean') {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `rank-k metric must be 'cosine' or 'euclidean', got '${String(metric)}'`,
    );
  }
  const ks = opts.ks ?? RANK_K_DEFAULT_KS;
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `rank-k: k must be a positive integer, got ${k}`,
      );
    }
  }
  if (probe.cols !== gallery.cols) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `rank-k feature dimensions differ (probe has ${probe.cols}, gallery has ${gallery.cols})`,
    );
  }
  if (probe.cols < 1) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, 'rank-k needs at least one feature dimension');
  }
  if (probe.rows < 1 || gallery.rows < 1) {
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `rank-k needs at least one probe and one gallery row (got ${probe.rows} and ${gallery.rows})`,
    );
  }
  assertFinite(probe.data, 'rank-k probe features', probe.cols);
  assertFinite(gallery.data, 'rank-k gallery features', gallery.cols);

  const { probeId, galleryId, identities } = resolveIdentities(probe.rows, gallery.rows, opts);
  const np = probe.rows;
  const ng = gallery.rows;

  const dist = gemmNT(probe, gallery).data; // [n_p, n_g] dot products, turned into distances below
  const pNorm2 = rowNormsSquared(probe); // [n_p]
  const gNorm2 = rowNormsSquared(gallery); // [n_g]
  const scale = new Float64Array(np).fill(1); // [n_p] tie scale per probe
  if (metric === 'cosine') {
    const zeroRow = (norms: Float64Array, what: string) => {
      const i = norms.indexOf(0);
      if (i >= 0) {
        throw new FidlabError(
          ErrorCode.INVALID_INPUT,
          `rank-k cosine distance: ${what} row ${i} is a zero vector (its direction is undefined)`,
        );
      }
    };
    zeroRow(pNorm2, 'probe');
    zeroRow(gNorm2, 'gallery');
    for (let i = 0; i < np; i++) {
      const pn = Math.sqrt(pNorm2[i]);
      for (let j = 0; j < ng; j++)
        dist[i * ng + j] = 1 - dist[i * ng + j] / (pn * Math.sqrt(gNorm2[j]));
    }
  } else {
    let gMax = 0;
    for (let j = 0; j < ng; j++) gMax = Math.max(gMax, gNorm2[j]);
    for (let i = 0; i < np; i++) {
      scale[i] = pNorm2[i] + gMax;
      for (let j = 0; j < ng; j++) dist[i * ng + j] = pNorm2[i] + gNorm2[j] - 2 * dist[i * ng + j];
    }
  }

  const hits = new Float64Array(identities); // hits[r - 1] = #{probes with rank r}
  const best = new Float64Array(identities); // [G] closest image per identity, for one probe
  for (let i = 0; i < np; i++) {
    best.fill(Infinity);
    const row = i * ng;
    for (let j = 0; j < ng; j++) {
      const c = galleryId[j];
      if (dist[row + j] < best[c]) best[c] = dist[row + j];
    }
    const truth = probeId[i];
    const threshold = best[truth] + RANK_K_TIE_RTOL * scale[i];
    let rank = 1;
    for (let c = 0; c < identities; c++) if (c !== truth && best[c] <= threshold) rank++;
    hits[rank - 1]++;
  }

  const cmc: number[] = new Array<number>(identities);
  let cumulative = 0;
  for (let r = 0; r < identities; r++) {
    cumulative += hits[r];
    cmc[r] = cumulative / np;
  }
  const rank: Record<string, number> = {};
  for (const k of ks) rank[String(k)] = cmc[Math.min(k, identities) - 1];
  return { rank, cmc, metric, probes: np, galleryIdentities: identities };
}

/** Dense identity indices 0..G-1 for every probe and gallery row. */
function resolveIdentities(
  np: number,
  ng: number,
  opts: RankKOptions,
): { probeId: Int32Array; galleryId: Int32Array; identities: number } {
  const { probeLabels, galleryLabels } = opts;
  if (probeLabels === undefined && galleryLabels === undefined) {
    if (np !== ng) {
      throw new FidlabError(
        ErrorCode.SHAPE_MISMATCH,
        `rank-k without labels pairs probe row i with gallery row i, but there are ${np} probes and ${ng} gallery rows`,
      );
    }
    const ids = new Int32Array(np);
    for (let i = 0; i < np; i++) ids[i] = i;
    return { probeId: ids, galleryId: ids, identities: ng };
  }
  if (probeLabels === undefined || galleryLabels === undefined) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `rank-k needs both probeLabels and galleryLabels, or neither (got only ${probeLabels === undefined ? 'galleryLabels' : 'probeLabels'})`,
    );
  }
  if (probeLabels.length !== np || galleryLabels.length !== ng) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `rank-k label counts differ from row counts (probeLabels ${probeLabels.length} vs ${np} probes, galleryLabels ${galleryLabels.length} vs ${ng} gallery rows)`,
    );
  }
  const index = new Map<string | number, number>();
  const galleryId = new Int32Array(ng);
  for (let j = 0; j < ng; j++) {
    let c = index.get(galleryLabels[j]);
    if (c === undefined) {
      c = index.size;
      index.set(galleryLabels[j], c);
    }
    galleryId[j] = c;
  }
  const probeId = new Int32Array(np);
  const missing: number[] = [];
  for (let i = 0; i < np; i++) {
    const c = index.get(probeLabels[i]);
    if (c === undefined) missing.push(i);
    else probeId[i] = c;
  }
  if (missing.length > 0) {
    const first = missing[0];
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more probes)` : '';
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `rank-k is closed-set: probe ${first} has identity ${JSON.stringify(probeLabels[first])}, which has no gallery image${more}`,
    );
  }
  return { probeId, galleryId, identities: index.size };
}

/** ||row_i||^2 for each row of m [n, d] -> [n]. */
function rowNormsSquared(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    for (let p = i * m.cols; p < (i + 1) * m.cols; p++) s += m.data[p] * m.data[p];
    out[i] = s;
  }
  return out;
}
