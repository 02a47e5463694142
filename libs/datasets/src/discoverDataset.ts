import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { parseCsv } from './csv.js';
import { decodeImage } from './decodeImage.js';
import { isImageFile, listDirs, listImages } from './imageFiles.js';

/**
 * How images are laid out on disk.
 * - `paired`: CUFS-style `ROOT/<split>/photos/*` + `ROOT/<split>/sketches/*`, or a `ROOT/pairs.csv`.
 * - `aligned`: pix2pix AB images, photo (A) on the left half, sketch (B) on the right.
 * - `single`: unpaired images (e.g. generated outputs for FID).
 */
export type Layout = 'paired' | 'aligned' | 'single';
export const LAYOUTS: readonly Layout[] = ['paired', 'aligned', 'single'];

/** Split name used when a layout has no split folders. */
export const DEFAULT_SPLIT = 'all';
export const MANIFEST_NAME = 'pairs.csv';
export const MANIFEST_COLUMNS = ['photo', 'sketch', 'identity', 'split'] as const;
const REQUIRED_MANIFEST_COLUMNS = ['photo', 'sketch', 'split'] as const;

/** One sample: a photo/sketch pair, one AB image, or one unpaired image. */
export interface DatasetItem {
  /** Stable name for messages and caches: the path of `a` relative to the root. */
  id: string;
  split: string;
  /** Identity label (manifest column or `identityPattern`), null when unknown. */
  identity: string | null;
  /** Absolute path: the photo (paired), the AB image (aligned) or the image (single). */
  a: string;
  /** Absolute path of the sketch (paired only). */
  b: string | null;
}

export interface DatasetProblem {
  path: string;
  reason: string;
}

export interface DatasetIndex {
  root: string;
  layout: Layout;
  /** Where pairs come from: the manifest, file names (basename or pair pattern), or none. */
  pairing: 'manifest' | 'basename' | 'pattern' | 'none';
  /** In file-name order per split; splits in name order. */
  items: DatasetItem[];
  splits: string[];
  /** Structural problems: unpaired files, missing files, duplicate keys, empty splits. */
  problems: DatasetProblem[];
  /** Non-image files that were skipped. */
  ignored: string[];
}

export interface DiscoverOptions {
  /** Named layout; auto-detected when absent or 'auto'. */
  layout?: Layout | 'auto';
  /**
   * Pairs photos and sketches whose names give the same key: the regex's capture groups joined
   * by '/' (the whole match when it has no groups), case-insensitive. CUFS: `([fm])\d?-(\d+-\d+)`
   * pairs `f-005-01.jpg` with `F2-005-01-sz1.jpg`. Default: same basename without extension.
   */
  pairPattern?: string;
  /** Identity from the photo's (or image's) file name, as for `pairPattern`; manifest wins. */
  identityPattern?: string;
}

function compilePattern(source: string, what: string): RegExp {
  try {
    return new RegExp(source, 'i');
  } catch (e) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${what} '${source}' is not a valid regular expression: ${(e as Error).message}`,
    );
  }
}

/** The key a pattern gives a file name, or null when it does not match. */
function patternKey(re: RegExp, file: string): string | null {
  const m = re.exec(basename(file));
  if (!m) return null;
  const key =
    m.length > 1
      ? m
          .slice(1)
          .filter((g) => g !== undefined)
          .join('/')
      : m[0];
  return key.toLowerCase();
}

const stem = (file: string) => basename(file, extname(file));

/** Finds the layout, splits, pairs and identities of a dataset folder. Reads no pixels. */
export async function discoverDataset(
  rootIn: string,
  options: DiscoverOptions = {},
): Promise<DatasetIndex> {
  const root = resolve(rootIn);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `dataset folder ${rootIn} does not exist`);
  }
  const identityRe = options.identityPattern
    ? compilePattern(options.identityPattern, 'identity pattern')
    : null;
  const identityOf = (file: string) => (identityRe ? patternKey(identityRe, file) : null);
  const layout = await detectLayout(root, options.layout ?? 'auto');
  switch (layout) {
    case 'paired':
      return existsSync(join(root, MANIFEST_NAME))
        ? readManifest(root, identityOf)
        : pairFolders(root, options.pairPattern, identityOf);
    case 'aligned':
    case 'single':
      return imageFolders(root, layout, identityOf);
  }
}

/** Split folders holding `photos/` and `sketches/`; the root itself counts as split 'all'. */
function pairedSplitDirs(root: string): { split: string; dir: string }[] {
  const isPairDir = (d: string) => existsSync(join(d, 'photos')) && existsSync(join(d, 'sketches'));
  if (isPairDir(root)) return [{ split: DEFAULT_SPLIT, dir: root }];
  return listDirs(root)
    .filter((s) => isPairDir(join(root, s)))
    .map((s) => ({ split: s, dir: join(root, s) }));
}

/** Folders holding images directly: the root (split 'all') or its sub-folders. */
function imageSplitDirs(root: string): { split: string; dir: string }[] {
  if (listImages(root).images.length > 0) return [{ split: DEFAULT_SPLIT, dir: root }];
  return listDirs(root)
    .filter((s) => listImages(join(root, s)).images.length > 0)
    .map((s) => ({ split: s, dir: join(root, s) }));
}

async function detectLayout(root: string, named: Layout | 'auto'): Promise<Layout> {
  if (named !== 'auto') {
    if (!LAYOUTS.includes(named)) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `unknown layout '${named}' (layouts: ${LAYOUTS.join(', ')})`,
      );
    }
    return named;
  }
  if (existsSync(join(root, MANIFEST_NAME)) || pairedSplitDirs(root).length > 0) return 'paired';
  const dirs = imageSplitDirs(root);
  if (dirs.length === 0) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `no dataset found in ${root}: expected ${MANIFEST_NAME}, <split>/photos + <split>/sketches, ` +
        'or folders of images',
    );
  }
  // Images at the root are an unpaired set; split folders of 2:1 images are pix2pix AB pairs.
  if (dirs[0].split === DEFAULT_SPLIT && dirs[0].dir === root) return 'single';
  const first = listImages(dirs[0].dir).images[0];
  try {
    // decodeImage, not sharp's metadata: BMP and Netpbm are read by fidlab's own decoders.
    const { width, height } = await decodeImage(first);
    return width !== undefined && height !== undefined && width === 2 * height
      ? 'aligned'
      : 'single';
  } catch {
    return 'single';
  }
}

function readManifest(root: string, identityOf: (f: string) => string | null): DatasetIndex {
  const path = join(root, MANIFEST_NAME);
  const rows = parseCsv(readFileSync(path, 'utf8'));
  const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase());
  const missing = REQUIRED_MANIFEST_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${path} lacks column(s) ${missing.join(', ')} (has: ${header.join(', ') || 'nothing'}; ` +
        `expected: ${MANIFEST_COLUMNS.join(', ')})`,
    );
  }
  const col = (name: string) => header.indexOf(name);
  const [cPhoto, cSketch, cIdentity, cSplit] = MANIFEST_COLUMNS.map(col);
  const items: DatasetItem[] = [];
  const problems: DatasetProblem[] = [];
  const abs = (p: string) => (isAbsolute(p) ? p : join(root, p));
  rows.slice(1).forEach((r, i) => {
    const line = i + 2;
    const photo = (r[cPhoto] ?? '').trim();
    const sketch = (r[cSketch] ?? '').trim();
    const split = (r[cSplit] ?? '').trim();
    if (!photo || !sketch || !split) {
      problems.push({ path: `${path}:${line}`, reason: 'empty photo, sketch or split field' });
      return;
    }
    let bad = false;
    for (const f of [photo, sketch]) {
      if (!existsSync(abs(f))) {
        problems.push({ path: abs(f), reason: `listed in ${MANIFEST_NAME}:${line} but missing` });
        bad = true;
      } else if (!isImageFile(f)) {
        problems.push({ path: abs(f), reason: `listed in ${MANIFEST_NAME}:${line}, not an image` });
        bad = true;
      }
    }
    if (bad) return;
    const identity = cIdentity >= 0 && r[cIdentity]?.trim() ? r[cIdentity].trim() : null;
    items.push({
      id: relative(root, abs(photo)),
      split,
      identity: identity ?? identityOf(photo),
      a: abs(photo),
      b: abs(sketch),
    });
  });
  if (items.length === 0 && problems.length === 0) {
    problems.push({ path, reason: 'manifest lists no pairs' });
  }
  return {
    root,
    layout: 'paired',
    pairing: 'manifest',
    items,
    splits: [...new Set(items.map((it) => it.split))].sort(),
    problems,
    ignored: [],
  };
}

function pairFolders(
  root: string,
  pairPattern: string | undefined,
  identityOf: (f: string) => string | null,
): DatasetIndex {
  const pairRe = pairPattern ? compilePattern(pairPattern, 'pair pattern') : null;
  const keyOf = (f: string) => (pairRe ? patternKey(pairRe, f) : stem(f));
  const items: DatasetItem[] = [];
  const problems: DatasetProblem[] = [];
  const ignored: string[] = [];
  const dirs = pairedSplitDirs(root);
  if (dirs.length === 0) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `no paired folders in ${root}: expected ${MANIFEST_NAME} or <split>/photos + <split>/sketches`,
    );
  }
  for (const { split, dir } of dirs) {
    const sides = (['photos', 'sketches'] as const).map((side) => {
      const { images, other } = listImages(join(dir, side));
      ignored.push(...other);
      const byKey = new Map<string, string>();
      for (const f of images) {
        const key = keyOf(f);
        if (key === null) {
          problems.push({ path: f, reason: `name does not match pair pattern '${pairPattern}'` });
        } else if (byKey.has(key)) {
          problems.push({ path: f, reason: `same pair key '${key}' as ${byKey.get(key)}` });
        } else byKey.set(key, f);
      }
      return byKey;
    });
    const [photos, sketches] = sides;
    let n = 0;
    for (const [key, photo] of photos) {
      const sketch = sketches.get(key);
      if (sketch === undefined) {
        problems.push({ path: photo, reason: 'photo without a sketch' });
        continue;
      }
      items.push({
        id: relative(root, photo),
        split,
        identity: identityOf(photo),
        a: photo,
        b: sketch,
      });
      n++;
    }
    for (const [key, sketch] of sketches) {
      if (!photos.has(key)) problems.push({ path: sketch, reason: 'sketch without a photo' });
    }
    if (n === 0) problems.push({ path: dir, reason: `split '${split}' has no pairs` });
  }
  return {
    root,
    layout: 'paired',
    pairing: pairRe ? 'pattern' : 'basename',
    items,
    splits: dirs.map((d) => d.split),
    problems,
    ignored,
  };
}

function imageFolders(
  root: string,
  layout: 'aligned' | 'single',
  identityOf: (f: string) => string | null,
): DatasetIndex {
  const items: DatasetItem[] = [];
  const ignored: string[] = [];
  const problems: DatasetProblem[] = [];
  const dirs = imageSplitDirs(root);
  if (dirs.length === 0) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, `no images in ${root} or its sub-folders`);
  }
  for (const { split, dir } of dirs) {
    const { images, other } = listImages(dir);
    ignored.push(...other);
    for (const f of images) {
      items.push({ id: relative(root, f), split, identity: identityOf(f), a: f, b: null });
    }
  }
  return {
    root,
    layout,
    pairing: 'none',
    items,
    splits: dirs.map((d) => d.split),
    problems,
    ignored,
  };
}

/** The items of one split (all items when `split` is undefined); an unknown split is an error. */
export function itemsOfSplit(index: DatasetIndex, split: string | undefined): DatasetItem[] {
  if (split === undefined) return index.items;
  const items = index.items.filter((it) => it.split === split);
  if (items.length === 0) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `split '${split}' of ${index.root} has no items (splits: ${index.splits.join(', ') || 'none'})`,
    );
  }
  return items;
}
