import { ErrorCode, FidlabError } from '@fidlab/base';
import type { StateDict } from './types.js';

/** How many names of each kind an error message lists. */
const SHOW = 5;

export interface CheckOptions {
  /** The weight file, named in the error. */
  file: string;
  /** The architecture the caller builds, e.g. 'inception (pytorch-fid FID InceptionV3)'. */
  arch: string;
  /**
   * Keys the file may hold beyond `expected`. Default: BatchNorm's `num_batches_tracked`
   * counters, which are training bookkeeping, not weights.
   */
  ignoreUnexpected?: (key: string) => boolean;
}

export const isBatchCounter = (key: string): boolean => key.endsWith('num_batches_tracked');

export interface StateDictDiff {
  missing: string[];
  unexpected: string[];
  misShaped: { key: string; found: number[]; expected: number[] }[];
}

/** Keys in `expected` absent from `sd`, keys in `sd` not expected, and shape disagreements. */
export function diffStateDict(
  sd: StateDict,
  expected: Record<string, number[]>,
  ignoreUnexpected: (key: string) => boolean = isBatchCounter,
): StateDictDiff {
  const missing: string[] = [];
  const misShaped: StateDictDiff['misShaped'] = [];
  for (const [key, shape] of Object.entries(expected)) {
    const t = sd.get(key);
    if (!t) missing.push(key);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      misShaped.push({ key, found: t.shape, expected: shape });
    }
  }
  const unexpected = [...sd.keys()].filter((k) => !(k in expected) && !ignoreUnexpected(k));
  return { missing, unexpected, misShaped };
}

const list = (xs: string[]): string =>
  xs.slice(0, SHOW).join(', ') + (xs.length > SHOW ? `, ... (${xs.length - SHOW} more)` : '');

/**
 * A prefix that, stripped from every file key (e.g. 'module.' from DataParallel) or added to
 * them, would fix most missing keys: worth saying in the error.
 */
function prefixHint(sd: StateDict, expected: Record<string, number[]>): string {
  const keys = [...sd.keys()];
  const wanted = Object.keys(expected);
  if (keys.length === 0 || wanted.length === 0) return '';
  const first = (k: string): string => (k.includes('.') ? k.slice(0, k.indexOf('.') + 1) : '');
  const p = first(keys[0]);
  if (p && keys.every((k) => k.startsWith(p))) {
    const hits = keys.filter((k) => k.slice(p.length) in expected).length;
    if (hits > keys.length / 2) return `; every key in the file starts with '${p}': strip it`;
  }
  const q = first(wanted[0]);
  if (q && wanted.every((k) => k.startsWith(q))) {
    const hits = keys.filter((k) => q + k in expected).length;
    if (hits > keys.length / 2) return `; the file's keys lack the prefix '${q}'`;
  }
  return '';
}

/**
 * Refuses a state_dict that does not fit the architecture: throws BAD_FILE_FORMAT listing the
 * missing, unexpected and mis-shaped keys (first few of each), so a wrong file is never loaded
 * partially. `expected` maps every parameter/buffer name to its shape (PyTorch layout).
 */
export function checkStateDict(
  sd: StateDict,
  expected: Record<string, number[]>,
  opts: CheckOptions,
): void {
  const { missing, unexpected, misShaped } = diffStateDict(sd, expected, opts.ignoreUnexpected);
  if (missing.length === 0 && unexpected.length === 0 && misShaped.length === 0) return;
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`${missing.length} missing (${list(missing)})`);
  if (unexpected.length > 0) parts.push(`${unexpected.length} unexpected (${list(unexpected)})`);
  if (misShaped.length > 0) {
    const shown = misShaped.map(
      (m) => `${m.key}: [${m.found.join(',')}] in file, [${m.expected.join(',')}] expected`,
    );
    parts.push(`${misShaped.length} mis-shaped (${list(shown)})`);
  }
  throw new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${opts.file} does not hold ${opts.arch} weights: ${parts.join('; ')}${prefixHint(sd, expected)}`,
  );
}
