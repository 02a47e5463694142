import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { matrix, type Matrix } from '@fidlab/fid-core';
import { discoverDataset, itemsOfSplit, loadBatches, type DatasetIndex } from '@fidlab/datasets';
import { createExtractor, type FeatureExtractor } from '@fidlab/features';
import { generateSplit, loadCheckpoint } from '@fidlab/training';
import { metricValues, type MetricValue } from './metricValues.js';
import type { DataSpec, MetricSpec } from './sweepSpec.js';

/** Images per feature-extractor call (ground truth and generated alike). */
const FEATURE_BATCH = 16;

/** A metric whose extractor is a concrete name (a `best` reference already resolved). */
export interface ResolvedMetric {
  spec: MetricSpec;
  extractor: string;
}

export interface EvaluationRequest {
  checkpointDir: string;
  data: DataSpec;
  split: string;
  direction: 'photo2sketch' | 'sketch2sketch';
  metrics: ResolvedMetric[];
  maxImages?: number;
  /** Generated samples written as PNG under `<checkpointDir>/samples` (for the dashboard); default 8. */
  samples?: number;
  onProgress?: (line: string) => void;
}

/**
 * Evaluates checkpoints of one data set: keeps the decoded ground-truth split and its features
 * for every extractor between epochs, so that each epoch only generates and extracts the
 * generated side. Generation is `generateSplit`, the function `fidlab generate` uses, so the
 * metrics describe exactly the images that command writes for the checkpoint.
 */
export class Evaluator {
  private index: DatasetIndex | null = null;
  private readonly extractors = new Map<string, FeatureExtractor>();
  private readonly realFeatures = new Map<string, Matrix>();
  private truth: { targets: tf.Tensor4D[]; ids: (string | null)[]; count: number } | null = null;

  constructor(
    private readonly data: DataSpec,
    private readonly split: string,
    private readonly direction: 'photo2sketch' | 'sketch2sketch',
    private readonly maxImages?: number,
  ) {}

  private async dataset(): Promise<DatasetIndex> {
    return (this.index ??= await discoverDataset(this.data.root, {
      layout: this.data.layout,
      pairPattern: this.data.pair_pattern,
      identityPattern: this.data.identity_pattern,
    }));
  }

  /** Decodes the ground-truth sketches once, in [0,1] (extractor side), in file order. */
  private async loadTruth(size: number) {
    if (this.truth) return this.truth;
    const index = await this.dataset();
    const items = itemsOfSplit(index, this.split);
    const limited = this.maxImages ? { ...index, items: items.slice(0, this.maxImages) } : index;
    const targets: tf.Tensor4D[] = [];
    const ids: (string | null)[] = [];
    for await (const b of loadBatches(limited, {
      size,
      split: this.split,
      range: '[0,1]',
      batchSize: FEATURE_BATCH,
    })) {
      if (!b.b) throw new Error(`${this.data.root}: evaluation needs paired images`);
      targets.push(tf.tensor4d(b.b, [b.n, size, size, 3]));
      for (const item of b.items) ids.push(item.identity);
    }
    this.truth = { targets, ids, count: ids.length };
    return this.truth;
  }

  private async extractor(name: string): Promise<FeatureExtractor> {
    let e = this.extractors.get(name);
    if (!e) {
      e = await createExtractor(name);
      this.extractors.set(name, e);
    }
    return e;
  }

  private async features(name: string, batches: tf.Tensor4D[]): Promise<Matrix> {
    const e = await this.extractor(name);
    const rows: Float32Array[] = [];
    for (const x of batches) {
      const f = e.extract(x);
      rows.push((await f.data()) as Float32Array);
      f.dispose();
    }
    const n = batches.reduce((s, b) => s + b.shape[0], 0);
    const out = matrix(n, e.dims);
    let off = 0;
    for (const r of rows) {
      out.data.set(r, off);
      off += r.length;
    }
    return out;
  }

  async evaluate(req: EvaluationRequest): Promise<MetricValue[]> {
    const { generator } = await loadCheckpoint(req.checkpointDir);
    // Generated images as the 8-bit pixels `fidlab generate` writes, from the same function
    // (one image per generator call, see GENERATION), in the ground truth's file order.
    const parts: Uint8Array[] = [];
    let size = 0;
    let truth: Awaited<ReturnType<Evaluator['loadTruth']>>;
    try {
      truth = await this.loadTruth(generator.config.size);
      for await (const g of generateSplit(generator, await this.dataset(), {
        split: this.split,
        direction: this.direction,
        maxImages: this.maxImages,
      })) {
        parts.push(g.pixels);
        size = g.size;
      }
    } finally {
      generator.dispose();
    }
    const pixels = concatBytes(parts); // [n, size, size, 3]
    const n = pixels.length / (size * size * 3);
    if (n !== truth.count) {
      throw new Error(`generated ${n} images of split '${this.split}' for ${truth.count} targets`);
    }
    await writeSamples(join(req.checkpointDir, 'samples'), pixels, size, req.samples ?? 8);
    // Extractors take them in batches of FEATURE_BATCH, like the ground truth.
    const generated: tf.Tensor4D[] = [];
    const per = size * size * 3;
    for (let i = 0; i < n; i += FEATURE_BATCH) {
      const m = Math.min(FEATURE_BATCH, n - i);
      const px = pixels.subarray(i * per, (i + m) * per);
      generated.push(
        tf.tensor4d(
          Float32Array.from(px, (v) => v / 255),
          [m, size, size, 3],
        ),
      );
    }
    const values: MetricValue[] = [];
    try {
      const generatedFeatures = new Map<string, Matrix>();
      for (const m of req.metrics) {
        req.onProgress?.(`features ${m.extractor} for ${m.spec.name}`);
        let real = this.realFeatures.get(m.extractor);
        if (!real) {
          real = await this.features(m.extractor, truth.targets);
          this.realFeatures.set(m.extractor, real);
        }
        let gen = generatedFeatures.get(m.extractor);
        if (!gen) {
          gen = await this.features(m.extractor, generated);
          generatedFeatures.set(m.extractor, gen);
        }
        values.push(
          ...metricValues(m.spec, m.extractor, { generated: gen, real, identities: truth.ids }),
        );
      }
    } finally {
      for (const g of generated) g.dispose();
    }
    return values;
  }

  dispose(): void {
    for (const e of this.extractors.values()) e.dispose();
    this.extractors.clear();
    if (this.truth) for (const t of this.truth.targets) t.dispose();
    this.truth = null;
  }
}

/** The first `count` generated images ([n, size, size, 3]) as PNG files (sample-000.png, ...). */
async function writeSamples(
  dir: string,
  pixels: Uint8Array,
  size: number,
  count: number,
): Promise<void> {
  if (count <= 0) return;
  await mkdir(dir, { recursive: true });
  const per = size * size * 3;
  const n = Math.min(count, pixels.length / per);
  for (let k = 0; k < n; k++) {
    await sharp(Buffer.from(pixels.subarray(k * per, (k + 1) * per)), {
      raw: { width: size, height: size, channels: 3 },
    })
      .png()
      .toFile(join(dir, `sample-${String(k).padStart(3, '0')}.png`));
  }
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
