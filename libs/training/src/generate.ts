import { mkdir } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_RESIZE, discoverDataset, itemsOfSplit, loadBatches } from '@fidlab/datasets';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';
import { loadCheckpoint } from './checkpoint.js';

export interface GenerateOptions {
  /** A checkpoint folder, RUN_DIR/checkpoints/epoch-NNNN. */
  checkpoint: string;
  /** Dataset root; the trial's own data root when absent. */
  data?: string;
  /** Default 'test'. */
  split?: string;
  out: string;
  /**
   * BatchNorm on running statistics and no dropout (PyTorch `eval()`). Default false, as
   * pix2pix's test.py without --eval: BatchNorm on the test batch's statistics and dropout on
   * (masks from the trial seed, so repeated runs give the same images).
   */
  evalMode?: boolean;
  /** Default 1 (with train-mode BatchNorm the batch size changes the outputs, as in pix2pix). */
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
 * Runs a checkpoint's generator over a split and writes one PNG per input, named after the input
 * (photo for photo2sketch, sketch for sketch2sketch) with a .png extension.
 * Deviation: inputs are resized straight to the model size (pix2pix's test resizes to load_size
 * and crops at random); a generated set then lines up pixel for pixel with its inputs.
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
    const items = itemsOfSplit(index, split);
    // sketch2sketch reads the sketch of a pair, or the image itself in a folder of sketches.
    const useSketch = config.direction === 'sketch2sketch' && index.layout !== 'single';
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    const size = config.size;
    let done = 0;
    const names = new Set<string>();
    for await (const batch of loadBatches(index, {
      size,
      split,
      resize: DEFAULT_RESIZE.train,
      batchSize: o.batchSize ?? 1,
    })) {
      const src = useSketch ? batch.b! : batch.a;
      const y = tf.tidy(() => {
        const x = tf.tensor4d(src, [batch.n, size, size, 3]);
        return generator.apply(x, { training: !o.evalMode }).output;
      });
      const pixels = toUint8((await y.data()) as Float32Array);
      y.dispose();
      for (let k = 0; k < batch.n; k++) {
        const input = useSketch ? batch.items[k].b! : batch.items[k].a;
        const name = `${basename(input, extname(input))}.png`;
        if (names.has(name)) {
          throw new FidlabError(
            ErrorCode.INVALID_INPUT,
            `two inputs of split '${split}' give the output name ${name}; rename one`,
          );
        }
        names.add(name);
        const img = pixels.subarray(k * size * size * 3, (k + 1) * size * size * 3);
        await sharp(Buffer.from(img), { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toFile(join(out, name));
      }
      done += batch.n;
      o.onProgress?.(done, items.length);
    }
    return { written: done, out, epoch };
  } finally {
    generator.dispose();
  }
}
