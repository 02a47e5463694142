import { ErrorCode, FidlabError } from '@fidlab/base';
import { decodeImage } from './decodeImage.js';
import type { DatasetIndex, DatasetProblem } from './discoverDataset.js';

export interface SplitSummary {
  name: string;
  /** Pairs (paired, aligned) or images (single). */
  items: number;
  /** Distinct identity labels; 0 when the dataset has none. */
  identities: number;
}

export interface CheckReport {
  root: string;
  layout: DatasetIndex['layout'];
  pairing: DatasetIndex['pairing'];
  splits: SplitSummary[];
  identities: number;
  /** Identities found in more than one split (an identity-disjoint split has none). */
  sharedIdentities: number;
  /** Image sizes 'WxH' and how many files have each, most common first. */
  sizes: { size: string; count: number }[];
  /** Channels in the files (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) and how many files have each. */
  channels: { channels: number; count: number }[];
  /** Files decoded. */
  images: number;
  /** Everything that makes the dataset unusable as it is: training refuses it. */
  problems: DatasetProblem[];
  /** Worth knowing, handled by the loader (e.g. pair sizes differ: both are resized). */
  notes: DatasetProblem[];
  /** Non-image files skipped. */
  ignored: string[];
  /** Unreadable images accepted because of `skipBad`: the loader skips them too. */
  skipped: DatasetProblem[];
  ok: boolean;
}

export interface CheckOptions {
  maxPixels?: number;
  /** Files decoded at once; default 4. */
  concurrency?: number;
  /** Report unreadable images as skipped instead of as problems (as the loader's skipBad). */
  skipBad?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Decodes every image of a dataset (truncation shows only on a full decode) and summarises it. */
export async function checkDataset(
  index: DatasetIndex,
  options: CheckOptions = {},
): Promise<CheckReport> {
  const problems: DatasetProblem[] = [...index.problems];
  const notes: DatasetProblem[] = [];
  const skipped: DatasetProblem[] = [];
  const sizes = new Map<string, number>();
  const channels = new Map<number, number>();
  const files = index.items.flatMap((it) => (it.b ? [it.a, it.b] : [it.a]));
  const dims = new Map<string, { width: number; height: number }>();
  let done = 0;
  let cursor = 0;
  const worker = async () => {
    while (cursor < files.length) {
      const f = files[cursor++];
      try {
        const img = await decodeImage(f, { maxPixels: options.maxPixels });
        dims.set(f, { width: img.width, height: img.height });
        const key = `${img.width}x${img.height}`;
        sizes.set(key, (sizes.get(key) ?? 0) + 1);
        channels.set(img.channels, (channels.get(img.channels) ?? 0) + 1);
      } catch (e) {
        if (!(e instanceof FidlabError)) throw e;
        const skip = options.skipBad && e.code === ErrorCode.BAD_FILE_FORMAT;
        (skip ? skipped : problems).push({
          path: f,
          reason: e.message.startsWith(f) ? e.message.slice(f.length).trim() : e.message,
        });
      }
      options.onProgress?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  for (const it of index.items) {
    const da = dims.get(it.a);
    if (!da) continue;
    if (it.b) {
      const db = dims.get(it.b);
      if (db && (db.width !== da.width || db.height !== da.height)) {
        notes.push({
          path: it.b,
          reason: `size ${db.width}x${db.height} differs from its photo's ${da.width}x${da.height} (both are resized)`,
        });
      }
    } else if (index.layout === 'aligned' && da.width !== 2 * da.height) {
      notes.push({
        path: it.a,
        reason: `${da.width}x${da.height} is not a 2:1 AB image (halves are split at ${Math.floor(da.width / 2)})`,
      });
    }
  }

  const splitOf = new Map<string, Set<string>>();
  const splits = index.splits.map((name) => {
    const items = index.items.filter((it) => it.split === name);
    const ids = new Set(items.flatMap((it) => (it.identity === null ? [] : [it.identity])));
    for (const id of ids) splitOf.set(id, (splitOf.get(id) ?? new Set()).add(name));
    if (items.length === 0 && !problems.some((p) => p.reason.includes(`'${name}'`))) {
      problems.push({ path: index.root, reason: `split '${name}' is empty` });
    }
    return { name, items: items.length, identities: ids.size };
  });
  if (index.items.length === 0 && problems.length === 0) {
    problems.push({ path: index.root, reason: 'the dataset has no images' });
  }
  problems.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return {
    root: index.root,
    layout: index.layout,
    pairing: index.pairing,
    splits,
    identities: splitOf.size,
    sharedIdentities: [...splitOf.values()].filter((s) => s.size > 1).length,
    sizes: [...sizes].map(([size, count]) => ({ size, count })).sort((x, y) => y.count - x.count),
    channels: [...channels]
      .map(([c, count]) => ({ channels: c, count }))
      .sort((x, y) => x.channels - y.channels),
    images: dims.size,
    problems,
    notes,
    ignored: index.ignored,
    skipped,
    ok: problems.length === 0,
  };
}

/** Summary table lines of a check report (the problem list is `formatProblems`). */
export function formatCheckSummary(r: CheckReport): string[] {
  const w = Math.max(5, ...r.splits.map((s) => s.name.length));
  const lines = [
    `dataset ${r.root}`,
    `layout ${r.layout}${r.pairing !== 'none' ? ` (paired by ${r.pairing})` : ''}`,
    '',
    `${'split'.padEnd(w)}  ${'items'.padStart(7)}  ${'identities'.padStart(10)}`,
    ...r.splits.map(
      (s) =>
        `${s.name.padEnd(w)}  ${String(s.items).padStart(7)}  ${String(s.identities).padStart(10)}`,
    ),
    `${'total'.padEnd(w)}  ${String(r.splits.reduce((n, s) => n + s.items, 0)).padStart(7)}  ${String(r.identities).padStart(10)}`,
    '',
    `images decoded: ${r.images}`,
    `sizes: ${r.sizes.map((s) => `${s.size} (${s.count})`).join(', ') || 'none'}`,
    `channels: ${r.channels.map((c) => `${c.channels} (${c.count})`).join(', ') || 'none'}`,
  ];
  if (r.identities > 0) lines.push(`identities in more than one split: ${r.sharedIdentities}`);
  for (const n of r.skipped) lines.push(`skipped: ${n.path}: ${n.reason}`);
  for (const n of r.notes) lines.push(`note: ${n.path}: ${n.reason}`);
  return lines;
}

/** One line per problem: `path: reason`. */
export function formatProblems(problems: readonly DatasetProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.reason}`);
}

/** Throws when the check found problems, listing every one: training refuses such a dataset. */
export function assertDatasetOk(r: CheckReport): void {
  if (r.ok) return;
  throw new FidlabError(
    ErrorCode.INVALID_INPUT,
    `dataset ${r.root} failed the check with ${r.problems.length} problem(s):\n` +
      formatProblems(r.problems)
        .map((l) => `  ${l}`)
        .join('\n'),
  );
}
