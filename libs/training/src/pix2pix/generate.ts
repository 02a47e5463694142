import { mkdir } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import {
  discoverDataset,
  itemsOfSplit,
  loadBatches,
  type DatasetIndex,
  type DatasetItem,
  type ResizeMode,
} from '@fidlab/datasets';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Generator } from '@fidlab/models';
import { loadCheckpoint } from './checkpoint.js';
import type { Direction } from './trialConfig.js';

/**
 * How a checkpoint turns inputs into images, for `fidlab generate` and for the per-epoch
 * evaluation alike, so that FID measured during training is FID of the images `fidlab generate`
 * writes for the same checkpoint (both call `generateSplit`).
 *
 * The settings are pix2pix's `test.py` defaults: the seed's FIDs (../shared/seed/README.md) are
 * computed on `pix2pix_test_generator_sketch`, what pix2pix's test script wrote, and the seed
 * names no other inference settings. So:
 * - mode: BatchNorm on the test batch's own statistics and dropout on (no `--eval`; the pix2pix
 *   paper, sec. 3.3: "At inference time, we run the generator net in exactly the same manner as
 *   during the training phase"), with dropout masks from the trial seed so reruns agree;
 * - batch size 1 (test.py forces it; with batch statistics the batch size changes the images);
 * - resize: bicubic on 8-bit pixels (`vips-bicubic`, torchvision's `Resize(BICUBIC)` on PIL
 *   images, as in pix2pix's `get_transform`), not the bilinear resize FID extractors use.
 */
export const GENERATION = {
  evalMode: false,
  batchSize: 1,
  resize: 'vips-bicubic',
} as const satisfies { evalMode: boolean; batchSize: number; resize: ResizeMode };

export interface GenerateSplitOptions {
  split: string;
  /** Which image of a pair is the input: the photo (photo2sketch) or the sketch (sketch2sketch). */
  direction: Direction;
  /** Only the split's first `maxImages` items (file order). */
  maxImages?: number;
  /** Default GENERATION.evalMode: PyTorch `eval()` (running statistics, no dropout) when true. */
  evalMode?: boolean;
  /** Default GENERATION.batchSize. */
  batchSize?: number;
}

/** One batch of generated images: 8-bit RGB [n, size, size, 3] and the inputs they came from. */
export interface GeneratedBatch {
  pixels: Uint8Array;
  n: number;
  size: number;
  items: DatasetItem[];
  /** Path of each input image (photo or sketch), in batch order. */
  inputs: string[];
}

/**
 * Runs `generator` (fresh from `loadCheckpoint`: its dropout Rng starts at the trial seed) over a
 * split in file order, without crop or flip, as GENERATION says, and yields 8-bit images as a
 * saved PNG holds them (`toUint8`).
 * Deviation: inputs are resized straight to the model size (pix2pix's test resizes to load_size
 * and crops at random); a generated set then lines up pixel for pixel with its inputs.
 */
export async function* generateSplit(
  generator: Generator,
  index: DatasetIndex,
  o: GenerateSplitOptions,
): AsyncGenerator<GeneratedBatch> {
  const size = generator.config.size;
  const items = itemsOfSplit(index, o.split);
  const limited =
    o.maxImages !== undefined && o.maxImages < items.length
      ? { ...index, items: items.slice(0, o.maxImages) }
      : index;
  // sketch2sketch reads the sketch of a pair, or the image itself in a folder of sketches.
  const useSketch = o.direction === 'sketch2sketch' && index.layout !== 'single';
  const training = !(o.evalMode ?? GENERATION.evalMode);
  for await (const batch of loadBatches(limited, {
    size,
    split: o.split,
    resize: GENERATION.resize,
    range: '[-1,1]',
    batchSize: o.batchSize ?? GENERATION.batchSize,
  })) {
    if (useSketch && !batch.b) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${index.root}: sketch2sketch generation needs the sketch of each pair`,
      );
    }
    const src = useSketch ? batch.b! : batch.a;
    const y = tf.tidy(() => {
      const x = tf.tensor4d(src, [batch.n, size, size, 3]);
      return generator.apply(x, { training }).output;
    });
    const pixels = toUint8((await y.data()) as Float32Array);
    y.dispose();
    yield {
      pixels,
      n: batch.n,
      size,
      items: batch.items,
      inputs: batch.items.map((it) => (useSketch ? it.b! : it.a)),
    };
  }
}

export interface GenerateOptions {
  /** A checkpoint folder, RUN_DIR/checkpoints/epoch-NNNN. */
  checkpoint: string;
  /** Dataset root; the trial's own data root when absent. */
  data?: string;
  /** Default 'test'. */
  split?: string;
  out: string;
  /** BatchNorm on running statistics and no dropout (PyTorch `eval()`); default GENERATION's. */
  evalMode?: boolean;
  /** Default GENERATION.batchSize (with train-mode BatchNorm the batch size changes the outputs). */
  batchSize?: number;
  onProgress?(done: number, total: number): void;
}

/**
 * [-1, 1] NHWC -> 8-bit RGB as pix2pix's `tensor2im`: (x + 1) / 2 * 255, truncated to uint8.
 */
export function toUint8(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.min(255, Math.max(0, Math.trunc(((x[i] + 1) / 2) * 255)));
  }
  return out;
}

/**
 * Runs a checkpoint's generator over a split (`generateSplit`) and writes one PNG per input,
 * named after the input (photo for photo2sketch, sketch for sketch2sketch) with a .png extension.
 */
export async function generateImages(
  o: GenerateOptions,
): Promise<{ written: number; out: string; epoch: number }> {
  const { config, generator, epoch } = await loadCheckpoint(o.checkpoint);
  try {
    const split = o.split ?? 'test';
    const index = await discoverDataset(o.data ?? config.data.root, {
      layout: config.data.layout,
      pairPattern: config.data.pair_pattern,
    });
    const total = itemsOfSplit(index, split).length;
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    let done = 0;
    const names = new Set<string>();
    for await (const g of generateSplit(generator, index, {
      split,
      direction: config.direction,
      evalMode: o.evalMode,
      batchSize: o.batchSize,
    })) {
      const px = g.size * g.size * 3;
      for (let k = 0; k < g.n; k++) {
        const name = `${basename(g.inputs[k], extname(g.inputs[k]))}.png`;
        if (names.has(name)) {
          throw new FidlabError(
            ErrorCode.INVALID_INPUT,
            `two inputs of split '${split}' give the output name ${name}; rename one`,
          );
        }
        names.add(name);
        await sharp(Buffer.from(g.pixels.subarray(k * px, (k + 1) * px)), {
          raw: { width: g.size, height: g.size, channels: 3 },
        })
          .png()
          .toFile(join(out, name));
      }
      done += g.n;
      o.onProgress?.(done, total);
    }
    return { written: done, out, epoch };
  } finally {
    generator.dispose();
  }
}
