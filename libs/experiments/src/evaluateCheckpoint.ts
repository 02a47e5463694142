import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { matrix, type Matrix } from '@fidlab/fid-core';
import { discoverDataset, itemsOfSplit, loadBatches, type DatasetIndex } from '@fidlab/datasets';
import { createExtractor, type FeatureExtractor } from '@fidlab/features';
import { loadCheckpoint, toUint8 } from '@fidlab/training';
import { metricValues, type MetricValue } from './metricValues.js';
import type { DataSpec, MetricSpec } from './sweepSpec.js';

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
 * Evaluates checkpoints of one data set: keeps the decoded test split and the ground-truth
 * features of every extractor between epochs, so that each epoch only generates and extracts the
 * generated side.
 */
export class Evaluator {
  private index: DatasetIndex | null = null;
  private readonly extractors = new Map<string, FeatureExtractor>();
  private readonly realFeatures = new Map<string, Matrix>();
  private truth: { inputs: tf.Tensor4D[]; targets: tf.Tensor4D[]; ids: (string | null)[] } | null =
    null;

  constructor(
    private readonly data: DataSpec,
    private readonly split: string,
    private readonly direction: 'photo2sketch' | 'sketch2sketch',
    private readonly maxImages?: number,
  ) {}

  /** Decodes the split once: inputs in [-1,1] (generator side), targets in [0,1] (extractor side). */
  private async loadTruth(size: number) {
    if (this.truth) return this.truth;
    const index = (this.index ??= await discoverDataset(this.data.root, {
      layout: this.data.layout,
      pairPattern: this.data.pair_pattern,
      identityPattern: this.data.identity_pattern,
    }));
    const items = itemsOfSplit(index, this.split);
    const limited = this.maxImages ? { ...index, items: items.slice(0, this.maxImages) } : index;
    const inputs: tf.Tensor4D[] = [];
    const targets: tf.Tensor4D[] = [];
    const ids: (string | null)[] = [];
    for await (const b of loadBatches(limited, {
      size,
      split: this.split,
      range: '[0,1]',
      batchSize: 16,
    })) {
      if (!b.b) throw new Error(`${this.data.root}: evaluation needs paired images`);
      const target = tf.tensor4d(b.b, [b.n, size, size, 3]);
      const source =
        this.direction === 'photo2sketch' ? tf.tensor4d(b.a, [b.n, size, size, 3]) : target;
      inputs.push(tf.tidy(() => source.mul(2).sub(1)));
      if (source !== target) source.dispose();
      targets.push(target);
      for (const item of b.items) ids.push(item.identity);
    }
    this.truth = { inputs, targets, ids };
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
    // Generated images as the 8-bit pixels `fidlab generate` writes (toUint8), so the metrics see
    // what a saved PNG holds.
    const pixels: Uint8Array[] = [];
    let truth: Awaited<ReturnType<Evaluator['loadTruth']>>;
    try {
      truth = await this.loadTruth(generator.config.size);
      for (const x of truth.inputs) {
        const y = tf.tidy(() => generator.apply(x, { training: false }).output);
        pixels.push(toUint8((await y.data()) as Float32Array));
        y.dispose();
      }
    } finally {
      generator.dispose();
    }
    const shapes = truth.inputs.map((x) => x.shape);
    await writeSamples(join(req.checkpointDir, 'samples'), pixels, shapes, req.samples ?? 8);
    const generated = pixels.map((px, i) =>
      tf.tensor4d(
        Float32Array.from(px, (v) => v / 255),
        shapes[i],
      ),
    );
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
    if (this.truth) for (const t of [...this.truth.inputs, ...this.truth.targets]) t.dispose();
    this.truth = null;
  }
}

/** The first `count` generated images as PNG files (sample-000.png, ...). */
async function writeSamples(
  dir: string,
  batches: Uint8Array[],
  shapes: [number, number, number, number][],
  count: number,
): Promise<void> {
  if (count <= 0) return;
  await mkdir(dir, { recursive: true });
  let k = 0;
  for (const [b, px] of batches.entries()) {
    const [n, h, w, c] = shapes[b];
    for (let i = 0; i < n && k < count; i++, k++) {
      const image = px.subarray(i * h * w * c, (i + 1) * h * w * c);
      await sharp(Buffer.from(image), { raw: { width: w, height: h, channels: c as 3 } })
        .png()
        .toFile(join(dir, `sample-${String(k).padStart(3, '0')}.png`));
    }
    if (k >= count) break;
  }
}
