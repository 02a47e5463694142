// Features of every image in a folder, in sorted file-name order (pytorch-fid sorts its paths
// the same way), one row per image.
import { existsSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { decodeImage, listImages, resizeFloat } from '@fidlab/datasets';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { assertFinite, matrix, type Matrix } from '@fidlab/fid-core';
import type { FeatureExtractor } from './extractor.js';
import { ExtractorPool } from './workerPool.js';

export const DEFAULT_BATCH_SIZE = 16;

export interface FolderFeaturesOptions {
  batchSize?: number;
  onProgress?(done: number, total: number): void;
}

/** The sorted image files of a folder; a missing or image-less folder is the user's error. */
export function folderImages(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${dir}: no such folder`);
  }
  const { images } = listImages(dir);
  if (images.length === 0) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, `${dir} holds no images (png, jpg, webp, tif)`);
  }
  return images;
}

/** An 8-bit RGB image at its own size (`decodeImage`'s pixels, or a generated image in memory). */
export interface Rgb8Image {
  data: Uint8Array; // [height, width, 3]
  width: number;
  height: number;
}

/**
 * One image as float RGB [0,1] (ToTensor's scaling), resized to `size` x `size` when given
 * (pytorch-fid's bilinear) and left at its own size otherwise (the extractor resizes).
 */
function toFloat(
  img: Rgb8Image,
  size: number | undefined,
): { data: Float32Array; h: number; w: number } {
  const f = new Float32Array(img.data.length);
  for (let i = 0; i < f.length; i++) f[i] = img.data[i] / 255;
  if (size === undefined) return { data: f, h: img.height, w: img.width };
  // The same arithmetic as F.interpolate(bilinear, align_corners=False) inside pytorch-fid's
  // model; resizing here lets images of different sizes share a batch.
  return {
    data: resizeFloat(f, img.height, img.width, 3, size, size, 'pytorch-bilinear'),
    h: size,
    w: size,
  };
}

/** An in-process extractor as a batch runner (one batch at a time, on the caller's backend). */
async function runInProcess(
  extractor: FeatureExtractor,
  pixels: Float32Array,
  shape: [number, number, number, number],
): Promise<Float32Array> {
  const x = tf.tensor4d(pixels, shape);
  const y = extractor.extract(x);
  const rows = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return rows;
}

/**
 * Runs `extractor` over the images of `dir` (sorted file names, see `imageFeatures`).
 */
export async function folderFeatures(
  dir: string,
  extractor: FeatureExtractor | ExtractorPool,
  opts: FolderFeaturesOptions = {},
): Promise<Matrix> {
  const files = folderImages(dir);
  return imageFeatures(
    files.map((f) => () => decodeImage(f)),
    extractor,
    opts,
    `features of ${dir}`,
  );
}

/**
 * Runs `extractor` over images in batches, one feature row per image in the given order: the
 * arithmetic of `fidlab features` / `fidlab fid DIR ...` (each 8-bit image scaled to [0,1] and
 * resized once, to the extractor's input size here, or by the extractor itself when it has none,
 * in which case a batch is split into runs of equal-sized images). The per-epoch evaluation
 * calls it too, so its metrics equal the folder commands' on the same images. Batches are
 * decoded ahead (in sharp's threads) while earlier ones run through the network: one at a time
 * for a FeatureExtractor, one per worker for an ExtractorPool. `what` names the set in errors.
 */
export async function imageFeatures(
  images: (() => Promise<Rgb8Image>)[],
  extractor: FeatureExtractor | ExtractorPool,
  opts: FolderFeaturesOptions = {},
  what = 'features',
): Promise<Matrix> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, `batch size must be >= 1, got ${batchSize}`);
  }
  const pool = extractor instanceof ExtractorPool ? extractor : undefined;
  const run = pool
    ? (px: Float32Array, shape: [number, number, number, number]) => pool.run(px, shape)
    : (px: Float32Array, shape: [number, number, number, number]) =>
        runInProcess(extractor as FeatureExtractor, px, shape);
  const inFlight = pool ? pool.workers : 1;
  const { dims, inputSize } = extractor;
  const out = matrix(images.length, dims);
  let done = 0;
  opts.onProgress?.(0, images.length);

  // One batch: decode, then runs of equal size (all of it when the extractor resizes).
  const batch = async (start: number): Promise<void> => {
    const decoded = await Promise.all(
      images.slice(start, start + batchSize).map(async (load) => toFloat(await load(), inputSize)),
    );
    for (let i = 0; i < decoded.length;) {
      let j = i + 1;
      while (j < decoded.length && decoded[j].h === decoded[i].h && decoded[j].w === decoded[i].w)
        j++;
      const { h, w } = decoded[i];
      const pixels = new Float32Array((j - i) * h * w * 3);
      for (let k = i; k < j; k++) pixels.set(decoded[k].data, (k - i) * h * w * 3);
      out.data.set(await run(pixels, [j - i, h, w, 3]), (start + i) * dims);
      i = j;
    }
    done += decoded.length;
    opts.onProgress?.(done, images.length);
  };
  // `inFlight` batches run while one more decodes; each lane takes the next batch when free.
  let nextStart = 0;
  const lane = async (): Promise<void> => {
    while (nextStart < images.length) {
      const start = nextStart;
      nextStart += batchSize;
      await batch(start);
    }
  };
  await Promise.all(Array.from({ length: inFlight + 1 }, lane));
  assertFinite(out.data, `${extractor.name} ${what}`, out.cols);
  return out;
}
