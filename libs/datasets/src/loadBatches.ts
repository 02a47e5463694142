import { createRng, ErrorCode, FidlabError } from '@fidlab/base';
import {
  augmentParams,
  cropFlipInto,
  cropFlipInto8,
  grayUnitInto,
  mixSeed,
  unitInto,
  type AugmentParams,
  type Pix2pixAugment,
} from './augment.js';
import {
  cropColumns,
  decodeImage,
  decodePixels8,
  resizeCropVips,
  resizeCropVips8,
  resizeRgb,
  type Pixels8,
  type RgbImage,
  type VipsSource,
} from './decodeImage.js';
import {
  itemsOfSplit,
  type DatasetIndex,
  type DatasetItem,
  type DatasetProblem,
} from './discoverDataset.js';
import { sharedCropPool } from './cropPool.js';
import { DEFAULT_RESIZE, RESIZE_MODES, type ResizeMode } from './resize.js';
import { vipsCubicApplies, vipsCubicCropInto } from './vipsCubic.js';

/** Value range of the output tensors: pix2pix's tanh range, or ToTensor's. */
export type PixelRange = '[-1,1]' | '[0,1]';

/**
 * Decoded 8-bit images kept between epochs, keyed by item id (at native size) or by item id and
 * size (vips-bicubic, already resized). Memory grows with the dataset.
 */
export type ImageCache = Map<string, RgbImage[]>;
export const createImageCache = (): ImageCache => new Map();

export interface LoaderOptions {
  /** Output height = width (the crop size when augmenting). */
  size: number;
  /** Only this split; all items when absent. */
  split?: string;
  /** Default: DEFAULT_RESIZE.train with augmentation, DEFAULT_RESIZE.fid without. */
  resize?: ResizeMode;
  /** Default '[-1,1]' (pix2pix's generators end in tanh). */
  range?: PixelRange;
  /** pix2pix augmentation; absent or null = off (evaluation). */
  augment?: Pix2pixAugment | null;
  /** Default 1. */
  batchSize?: number;
  /** Shuffle per (seed, epoch); default false (file order, for evaluation). */
  shuffle?: boolean;
  seed?: number;
  epoch?: number;
  /** Drop a last batch smaller than batchSize; default false. */
  dropLast?: boolean;
  /** Batches prepared ahead of the consumer; default 2. Memory holds prefetch + 1 batches. */
  prefetch?: number;
  /** Images decoded at once (sharp runs them on its thread pool); default 4. */
  concurrency?: number;
  /**
   * Worker threads for the uncached `vips-bicubic` path: decode, resize, crop, flip and the float
   * mapping run there, and the main thread (which also trains) only copies crops into batches.
   * Default 0 (all in this thread). The workers are started on first use and kept for later
   * calls (see `sharedCropPool`); ignored with `cache` and for aligned AB images.
   */
  workers?: number;
  /** Keep decoded images here for later epochs. */
  cache?: ImageCache;
  /** Skip unreadable images (reported through onSkip) instead of failing; default false. */
  skipBad?: boolean;
  maxPixels?: number;
  onSkip?: (problem: DatasetProblem) => void;
}

/** One batch, NHWC float32. For pairs `a` is the photo and `b` the sketch; `b` is null for single images. */
export interface Batch {
  a: Float32Array; // [n, size, size, 3]
  b: Float32Array | null; // [n, size, size, 3]
  n: number;
  size: number;
  items: DatasetItem[];
}

interface Resolved {
  size: number;
  resize: ResizeMode;
  lo: number;
  hi: number;
  augment: Pix2pixAugment | null;
  batchSize: number;
  shuffle: boolean;
  seed: number;
  epoch: number;
  dropLast: boolean;
  prefetch: number;
  concurrency: number;
  workers: number;
}

function positiveInt(value: number, name: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${name} must be an integer >= ${min}, got ${value}`,
    );
  }
  return value;
}

function resolveOptions(o: LoaderOptions): Resolved {
  const augment = o.augment ?? null;
  const resize = o.resize ?? (augment ? DEFAULT_RESIZE.train : DEFAULT_RESIZE.fid);
  if (!RESIZE_MODES.includes(resize)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `unknown resize mode '${resize}' (modes: ${RESIZE_MODES.join(', ')})`,
    );
  }
  const range = o.range ?? '[-1,1]';
  if (range !== '[-1,1]' && range !== '[0,1]') {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `range must be '[-1,1]' or '[0,1]', got '${range}'`,
    );
  }
  const size = positiveInt(o.size, 'size', 1);
  if (augment && positiveInt(augment.loadSize, 'loadSize', 1) < size) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `loadSize (${augment.loadSize}) must be >= the crop size (${size})`,
    );
  }
  return {
    size,
    resize,
    lo: range === '[-1,1]' ? -1 : 0,
    hi: 1,
    augment,
    batchSize: positiveInt(o.batchSize ?? 1, 'batchSize', 1),
    shuffle: o.shuffle ?? false,
    seed: o.seed ?? 0,
    epoch: o.epoch ?? 0,
    dropLast: o.dropLast ?? false,
    prefetch: positiveInt(o.prefetch ?? 2, 'prefetch', 0),
    concurrency: positiveInt(o.concurrency ?? 4, 'concurrency', 1),
    workers: positiveInt(o.workers ?? 0, 'workers', 0),
  };
}

/** The order items are read in one epoch: a seeded Fisher-Yates permutation, or file order. */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  if (!shuffle) return p;
  const rng = createRng(mixSeed(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** A counting semaphore: at most `n` tasks run at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** The item's images at native size: [photo, sketch], [A half, B half] or [image]. */
async function readItem(
  item: DatasetItem,
  index: DatasetIndex,
  o: LoaderOptions,
): Promise<RgbImage[]> {
  const cached = o.cache?.get(item.id);
  if (cached) return cached;
  const opts = { maxPixels: o.maxPixels };
  let images: RgbImage[];
  if (item.b !== null) {
    images = await Promise.all([decodeImage(item.a, opts), decodeImage(item.b, opts)]);
  } else if (index.layout === 'aligned') {
    const ab = await decodeImage(item.a, opts);
    const w = Math.floor(ab.width / 2);
    images = [cropColumns(ab, 0, w), cropColumns(ab, w, w)];
  } else {
    images = [await decodeImage(item.a, opts)];
  }
  o.cache?.set(item.id, images);
  return images;
}

/**
 * Reads one epoch of a dataset as batches: decode (sharp), RGB, resize, pix2pix crop/flip (same
 * for both images of a pair), NHWC float32. At most `prefetch + 1` batches are in memory, so
 * memory stays flat on any dataset size (unless `cache` is given).
 */
export async function* loadBatches(
  index: DatasetIndex,
  options: LoaderOptions,
): AsyncGenerator<Batch> {
  const r = resolveOptions(options);
  const items = itemsOfSplit(index, options.split);
  const order = epochOrder(items.length, r.shuffle, r.seed, r.epoch);
  const positions: number[][] = [];
  for (let i = 0; i < order.length; i += r.batchSize) {
    const chunk = Array.from(order.subarray(i, i + r.batchSize));
    if (chunk.length < r.batchSize && r.dropLast) break;
    positions.push(chunk);
  }
  const limit = limiter(r.concurrency);
  const paired = index.layout !== 'single';
  const target = r.augment ? r.augment.loadSize : r.size;
  const pixels = r.size * r.size * 3;
  const pool =
    r.workers > 0 && r.resize === 'vips-bicubic' && !options.cache && index.layout !== 'aligned'
      ? sharedCropPool(r.workers)
      : null;

  /** Writes one image of a sample into a batch at `offset`. */
  type Writer = (out: Float32Array, offset: number) => void;

  /** The `vips-bicubic` path: decode + resize + crop + flip in sharp; here only the range map. */
  const viaVips = async (item: DatasetItem, p: AugmentParams): Promise<Writer[]> => {
    const opts = { maxPixels: options.maxPixels };
    if (options.cache) {
      // The cache keeps images already resized to `target`: later epochs only crop and flip.
      const key = `${item.id}@vips-bicubic:${target}`;
      let resized = options.cache.get(key);
      if (!resized) {
        const imgs = await readItem(item, index, { ...options, cache: undefined });
        const full = { x: 0, y: 0, flip: false };
        resized = await Promise.all(
          imgs.map(async (image) => ({
            data: await resizeCropVips({ image }, target, full, target, opts),
            width: target,
            height: target,
            channels: image.channels,
          })),
        );
        options.cache.set(key, resized);
      }
      return resized.map(
        (img) => (out, offset) => cropFlipInto8(img, p, r.size, r.lo, r.hi, out, offset),
      );
    }
    if (pool) {
      const paths = item.b === null ? [item.a] : [item.a, item.b];
      const data = await pool.run({
        paths,
        target,
        crop: p,
        size: r.size,
        lo: r.lo,
        hi: r.hi,
        maxPixels: options.maxPixels,
      });
      return paths.map(
        (_, k) => (out, offset) => out.set(data.subarray(k * pixels, (k + 1) * pixels), offset),
      );
    }
    const sources: VipsSource[] =
      index.layout === 'aligned'
        ? (await readItem(item, index, options)).map((image) => ({ image }))
        : (item.b === null ? [item.a] : [item.a, item.b]).map((path) => ({ path }));
    return Promise.all(
      sources.map(async (src): Promise<Writer> => {
        // Upsizing (the pix2pix case): sharp only decodes; the resize of the kept window, the
        // crop, the flip and the float mapping run in one JS pass with libvips's arithmetic.
        const px: Pixels8 | null =
          'image' in src ? { ...src.image, channels: 3 } : await decodePixels8(src.path, opts);
        if (px && vipsCubicApplies(px.width, px.height, target)) {
          const { data, width, height, channels } = px;
          return (out, offset) =>
            vipsCubicCropInto(
              data,
              width,
              height,
              channels,
              target,
              p,
              r.size,
              r.lo,
              r.hi,
              out,
              offset,
            );
        }
        const c = await resizeCropVips8(src, target, p, r.size, opts);
        return (out, offset) =>
          (c.channels === 1 ? grayUnitInto : unitInto)(c.data, r.lo, r.hi, out, offset);
      }),
    );
  };

  /** The exact FID resize modes: float arithmetic in JS, then crop and flip. */
  const viaFloat = async (item: DatasetItem, p: AugmentParams): Promise<Writer[]> => {
    const imgs = await readItem(item, index, options);
    const resized = await Promise.all(imgs.map((im) => resizeRgb(im, target, target, r.resize)));
    return resized.map(
      (img) => (out, offset) => cropFlipInto(img, p, r.size, r.lo, r.hi, out, offset),
    );
  };

  const prepare = async (i: number): Promise<Writer[] | null> => {
    const item = items[i];
    const p = r.augment
      ? augmentParams(r.augment, r.size, r.seed, r.epoch, i)
      : { x: 0, y: 0, flip: false };
    try {
      return await (r.resize === 'vips-bicubic' ? viaVips : viaFloat)(item, p);
    } catch (e) {
      if (options.skipBad && e instanceof FidlabError && e.code === ErrorCode.BAD_FILE_FORMAT) {
        options.onSkip?.({ path: item.id, reason: e.message });
        return null;
      }
      throw e;
    }
  };

  const build = async (chunk: number[]): Promise<Batch | null> => {
    const prepared = await Promise.all(chunk.map((i) => limit(() => prepare(i))));
    const kept = chunk.flatMap((i, k) => (prepared[k] ? [{ i, writers: prepared[k] }] : []));
    if (kept.length === 0) return null;
    const a = new Float32Array(kept.length * pixels);
    const b = paired ? new Float32Array(kept.length * pixels) : null;
    kept.forEach(({ writers }, k) => {
      writers[0](a, k * pixels);
      if (b) writers[1](b, k * pixels);
    });
    return { a, b, n: kept.length, size: r.size, items: kept.map(({ i }) => items[i]) };
  };

  const pending: Promise<Batch | null>[] = [];
  let next = 0;
  const startNext = () => {
    const p = build(positions[next++]);
    p.catch(() => undefined); // rejection surfaces when awaited in order below
    pending.push(p);
  };
  while (next < positions.length && pending.length < r.prefetch + 1) startNext();
  while (pending.length > 0) {
    const batch = await pending.shift()!;
    if (next < positions.length) startNext();
    if (batch) yield batch;
  }
}

/** Number of batches one epoch of `loadBatches` yields (before any skipped images). */
export function batchCount(items: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(items / batchSize) : Math.ceil(items / batchSize);
}
