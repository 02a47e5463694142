// What makes two metric values comparable, and which direction is better. A value's recipe is
// its `extra.recipe` when the store recorded one, else its evaluation protocol and extractor;
// values of different recipes are never drawn on one axis without a warning.

type Json = unknown;

function obj(v: Json): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : null;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = obj(v);
  if (o)
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** The recipe of one stored value (from runs.epochs' details). */
export function recipeKey(detail: { extractor?: string | null; extra?: Json } | undefined): string {
  const extra = obj(detail?.extra ?? null);
  if (extra && extra.recipe !== undefined) return canonical(extra.recipe);
  const p = extra?.protocol;
  const protocol = typeof p === 'number' && Number.isInteger(p) && p >= 1 ? p : 1;
  return `protocol ${protocol}` + (detail?.extractor ? `, ${detail.extractor}` : '');
}

/** A warning when the recipes drawn on one axis differ, else null. */
export function mixedWarning(what: string, keys: Iterable<string>): string | null {
  const distinct = [...new Set(keys)];
  if (distinct.length <= 1) return null;
  return `${what} mixes values of ${distinct.length} different recipes (${distinct
    .map((k) => (k.length > 60 ? k.slice(0, 57) + '…' : k))
    .join('; ')}): they are not comparable`;
}

interface SpecLike {
  select?: { metric?: string; goal?: 'min' | 'max' };
  evaluate?: { metrics?: { name?: string; kind?: string }[] };
  fixed?: Record<string, unknown>;
}

/** Whether lower or higher is better for a metric of a sweep. */
export function goalOf(metric: string, spec: unknown): 'min' | 'max' {
  const s = (obj(spec) ?? {}) as SpecLike;
  if (s.select?.metric === metric && s.select.goal) return s.select.goal;
  const base = metric.split('@')[0];
  const m = s.evaluate?.metrics?.find((x) => x.name === base);
  if (m?.kind === 'rank-k') return 'max';
  if (m) return 'min';
  return /^(rank|acc|top)/i.test(metric) ? 'max' : 'min';
}

/** Training epochs a trial plans (epochs + epochs_decay), or null when the spec does not say. */
export function plannedEpochs(spec: unknown, parameters: unknown): number | null {
  const fixed = obj((obj(spec) as SpecLike | null)?.fixed ?? null) ?? {};
  const p = obj(parameters) ?? {};
  const num = (k: string) => {
    const v = p[k] ?? fixed[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : 0;
  };
  const n = num('epochs') + num('epochs_decay');
  return n > 0 ? n : null;
}
