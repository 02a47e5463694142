import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Matrix } from '@fidlab/fid-core';
import {
  cropColumns,
  decodeImage,
  discoverDataset,
  itemsOfSplit,
  type DatasetIndex,
  type DatasetItem,
  type RgbImage,
} from '@fidlab/datasets';
import {
  createExtractor,
  extractorResize,
  extractorWeightsSha256,
  formatExtractor,
  imageFeatures,
  parseExtractorName,
  type FeatureExtractor,
  type Rgb8Image,
} from '@fidlab/features';
import { generateSplit, loadCheckpoint } from '@fidlab/training';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { isUri } from './artifactCheckpointStore.js';
import { metricValues, type FeatureRecipe, type MetricValue } from './metricValues.js';
import type { FeatureCache, FeatureCacheKey, RecordedEpoch } from './ports.js';
import type { DataSpec, MetricSpec } from './sweepSpec.js';

/**
 * The version of the per-epoch evaluation protocol, recorded with every value the Evaluator
 * produces as `extra.protocol`. Values of different versions are not comparable, so a resumed
 * sweep re-evaluates epochs whose values are older (see `epochsToReevaluate`).
 *   1  before 6b5713c (values recorded without a protocol count as 1): the generator in eval
 *      mode (BatchNorm running statistics, no dropout), bilinear input resize, batches of 16;
 *      the real sketches resized bilinearly to the model size, then again by the extractor.
 *   2  since 6b5713c + f8bd07b: images from `generateSplit` as `fidlab generate` makes them
 *      (pix2pix test.py: batch-1 BatchNorm statistics, dropout on, vips-bicubic input resize),
 *      8-bit; the real sketches read at their own size and resized once, by the extractor, as
 *      `fidlab fid DIR_A DIR_B --extractor` does.
 * Bump it whenever a change alters the values the evaluator computes for the same checkpoint.
 */
export const EVALUATION_PROTOCOL = 2;

/**
 * Epochs with a value (of one of `names`, default any) from an evaluation protocol older than
 * `protocol`, with those older protocols (ascending): their values must be computed again before
 * they can be compared with current ones. A value newer than `protocol` is left alone. Pass the
 * names the evaluation produces now: a value of a metric no longer evaluated cannot be replaced,
 * so it must not make its epoch due forever (it stays listed with its own protocol).
 */
export function epochsToReevaluate(
  rows: Pick<RecordedEpoch, 'epoch' | 'protocols'>[],
  opts: { names?: Iterable<string>; protocol?: number } = {},
): { epoch: number; protocols: number[] }[] {
  const protocol = opts.protocol ?? EVALUATION_PROTOCOL;
  const names = opts.names ? new Set(opts.names) : null;
  return rows.flatMap((row) => {
    const old = new Set<number>();
    for (const [name, p] of Object.entries(row.protocols))
      if (p < protocol && (!names || names.has(name))) old.add(p);
    return old.size > 0 ? [{ epoch: row.epoch, protocols: [...old].sort((a, b) => a - b) }] : [];
  });
}

/** A metric whose extractor is a concrete name (a `best` reference already resolved). */
export interface ResolvedMetric {
  spec: MetricSpec;
  extractor: string;
  /** The extractor's checkpoint when it is an artifact URI: what to verify a fetched copy against. */
  artifact?: { uri: string; sha256: string; bytes: number };
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
  /**
   * A local folder for an extractor whose checkpoint is an artifact URI (`generator:nats-obj://
   * ...:en2`); without it such an extractor is refused. The URI stays in the extractor's name and
   * recipe, so values do not depend on where a worker keeps its copy.
   */
  resolveCheckpoint?: (uri: string) => Promise<string>;
  onProgress?: (line: string) => void;
}

/**
 * Evaluates checkpoints of one data set: keeps the ground-truth features of every extractor
 * between epochs, so that each epoch only generates and extracts the generated side. Generation
 * is `generateSplit`, the function `fidlab generate` uses; features come from `imageFeatures`,
 * the function behind `fidlab fid DIR_A DIR_B --extractor`, fed the sketch files at their own
 * size and the generated 8-bit pixels (what generate's PNGs hold). So each metric equals the
 * folder commands' value on generate's output folder and the split's sketch folder. Every value
 * carries `extra.protocol` = EVALUATION_PROTOCOL and its complete recipe as `extra.recipe`
 * (@fidlab/features ValueRecipe: kind and options, extractor, weights sha256, resize, protocol,
 * split and image cap).
 */
export class Evaluator {
  private index: DatasetIndex | null = null;
  private readonly extractors = new Map<string, FeatureExtractor>();
  /** The recipe part of each extractor's values (its weights hashed once). */
  private readonly featureRecipes = new Map<string, FeatureRecipe>();
  /**
   * Ground-truth features by extractor name, for this evaluator's life. Across evaluators they
   * are shared through `featureCache` (when given) under a key of everything that makes them
   * (`FeatureCacheKey`), so features of an older recipe or other data cannot come back.
   */
  private readonly realFeatures = new Map<string, Matrix>();
  private truth: { items: DatasetItem[]; ids: (string | null)[] } | null = null;
  private fingerprint: Promise<string> | null = null;

  constructor(
    private readonly data: DataSpec,
    private readonly split: string,
    private readonly direction: 'photo2sketch' | 'sketch2sketch',
    private readonly maxImages?: number,
    private readonly featureCache?: FeatureCache,
  ) {}

  private async dataset(): Promise<DatasetIndex> {
    return (this.index ??= await discoverDataset(this.data.root, {
      layout: this.data.layout,
      pairPattern: this.data.pair_pattern,
      identityPattern: this.data.identity_pattern,
    }));
  }

  /** The split's items whose sketches are the ground truth, in file order (generation's order). */
  private async loadTruth() {
    if (this.truth) return this.truth;
    const index = await this.dataset();
    if (index.layout === 'single') {
      throw new Error(`${this.data.root}: evaluation needs paired images`);
    }
    const all = itemsOfSplit(index, this.split);
    const items = this.maxImages ? all.slice(0, this.maxImages) : all;
    this.truth = { items, ids: items.map((it) => it.identity) };
    return this.truth;
  }

  /** An item's ground-truth sketch at its own size: the sketch file, or an AB image's B half. */
  private async sketch(item: DatasetItem): Promise<RgbImage> {
    if (item.b !== null) return decodeImage(item.b);
    const ab = await decodeImage(item.a);
    const w = Math.floor(ab.width / 2);
    return cropColumns(ab, w, w);
  }

  /** The generator's input and the ground truth of an item, for the dashboard's sample grid. */
  private async samplePair(item: DatasetItem): Promise<{ input: RgbImage; truth: RgbImage }> {
    const truth = await this.sketch(item);
    if (this.direction === 'sketch2sketch') return { input: truth, truth };
    if (item.b !== null) return { input: await decodeImage(item.a), truth };
    const ab = await decodeImage(item.a);
    return { input: cropColumns(ab, 0, Math.floor(ab.width / 2)), truth };
  }

  /** The name to load: an artifact checkpoint in it replaced by its local copy. */
  private async localName(name: string): Promise<string> {
    const r = parseExtractorName(name);
    if ((r.family !== 'generator' && r.family !== 'identity') || !isUri(r.checkpoint)) return name;
    if (!this.resolveCheckpoint)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `extractor ${name}: its checkpoint is an artifact, and this evaluation has no artifact store to fetch it from`,
      );
    return formatExtractor({ ...r, checkpoint: await this.resolveCheckpoint(r.checkpoint) });
  }

  private async extractor(name: string): Promise<FeatureExtractor> {
    let e = this.extractors.get(name);
    if (!e) {
      e = await createExtractor(await this.localName(name));
      this.extractors.set(name, e);
    }
    return e;
  }

  private async featureRecipe(name: string): Promise<FeatureRecipe> {
    let r = this.featureRecipes.get(name);
    if (!r) {
      const e = await this.extractor(name);
      r = {
        extractor: parseExtractorName(name),
        weights_sha256: await extractorWeightsSha256(e),
        resize: extractorResize(e),
        protocol: EVALUATION_PROTOCOL,
        data: { split: this.split, max_images: this.maxImages ?? null },
      };
      this.featureRecipes.set(name, r);
    }
    return r;
  }

  private async features(
    name: string,
    images: (() => Promise<Rgb8Image>)[],
    what: string,
  ): Promise<Matrix> {
    return imageFeatures(images, await this.extractor(name), {}, what);
  }

  /**
   * sha256 over the ground truth as the evaluator reads it: per item, in order, the identity and
   * the bytes of its sketch file (or AB file). Any changed, added or removed image changes it.
   */
  private async dataFingerprint(items: DatasetItem[]): Promise<string> {
    const h = createHash('sha256');
    for (const it of items) {
      const bytes = await readFile(it.b ?? it.a);
      h.update(`${it.b === null ? 'ab' : 'sketch'} ${bytes.length} ${it.identity ?? ''}\n`);
      h.update(bytes);
    }
    return h.digest('hex');
  }

  /**
   * The cache key of an extractor's ground-truth features (with the sha256 of its weight files,
   * as its values' recipe records it), or null when they must not be cached: an extractor over a
   * checkpoint (`generator:`, `identity:`) whose weights have no sha256 names a path whose files
   * could change. Published weights without one are fixed by their name (verified downloads, npm).
   */
  private async cacheKey(extractor: string, items: DatasetItem[]): Promise<FeatureCacheKey | null> {
    if (!this.featureCache) return null;
    const weightsSha256 = (await this.featureRecipe(extractor)).weights_sha256 ?? null;
    if (weightsSha256 === null && /^(generator|identity):/.test(extractor)) return null;
    return {
      data: await (this.fingerprint ??= this.dataFingerprint(items)),
      split: this.split,
      extractor,
      weightsSha256,
      protocol: EVALUATION_PROTOCOL,
    };
  }

  /** The ground truth's features: kept, else from the feature cache, else computed (and shared). */
  private async realFeaturesOf(extractor: string, items: DatasetItem[]): Promise<Matrix> {
    const kept = this.realFeatures.get(extractor);
    if (kept) return kept;
    const key = await this.cacheKey(extractor, items);
    let real: Matrix | null = key ? await this.featureCache!.get(key) : null;
    if (!real) {
      real = await this.features(
        extractor,
        items.map((it) => () => this.sketch(it)),
        `features of the '${this.split}' sketches of ${this.data.root}`,
      );
      if (key) await this.featureCache!.put(key, real);
    }
    this.realFeatures.set(extractor, real);
    return real;
  }

  /** Set by each `evaluate` that brings one (the same for every job of a worker). */
  private resolveCheckpoint?: (uri: string) => Promise<string>;

  async evaluate(req: EvaluationRequest): Promise<MetricValue[]> {
    if (req.resolveCheckpoint) this.resolveCheckpoint = req.resolveCheckpoint;
    const { generator } = await loadCheckpoint(req.checkpointDir);
    // Generated images as the 8-bit pixels `fidlab generate` writes, from the same function
    // (one image per generator call, see GENERATION), in the ground truth's file order.
    const parts: Uint8Array[] = [];
    let size = 0;
    let truth: Awaited<ReturnType<Evaluator['loadTruth']>>;
    try {
      truth = await this.loadTruth();
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
    if (n !== truth.items.length) {
      throw new Error(
        `generated ${n} images of split '${this.split}' for ${truth.items.length} targets`,
      );
    }
    await writeSamples(join(req.checkpointDir, 'samples'), pixels, size, req.samples ?? 8, (k) =>
      this.samplePair(truth.items[k]),
    );
    const per = size * size * 3;
    const generated = Array.from({ length: n }, (_, k) => async (): Promise<Rgb8Image> => ({
      data: pixels.subarray(k * per, (k + 1) * per),
      width: size,
      height: size,
    }));
    const values: MetricValue[] = [];
    const generatedFeatures = new Map<string, Matrix>();
    for (const m of req.metrics) {
      req.onProgress?.(`features ${m.extractor} for ${m.spec.name}`);
      const real = await this.realFeaturesOf(m.extractor, truth.items);
      let gen = generatedFeatures.get(m.extractor);
      if (!gen) {
        gen = await this.features(
          m.extractor,
          generated,
          `features of the images generated by ${req.checkpointDir}`,
        );
        generatedFeatures.set(m.extractor, gen);
      }
      const recipe = await this.featureRecipe(m.extractor);
      for (const v of metricValues(
        m.spec,
        m.extractor,
        { generated: gen, real, identities: truth.ids },
        recipe,
      ))
        values.push({ ...v, extra: { ...v.extra, protocol: EVALUATION_PROTOCOL } });
    }
    return values;
  }

  dispose(): void {
    for (const e of this.extractors.values()) e.dispose();
    this.extractors.clear();
    this.featureRecipes.clear();
    this.truth = null;
  }
}

/** The first `count` generated images ([n, size, size, 3]) as PNG files (sample-000.png, ...). */
/**
 * `sample-007.png` (generated) with `sample-007-input.png` and `sample-007-truth.png` beside it
 * (the input and the ground truth at their own size), for the first `count` images.
 */
async function writeSamples(
  dir: string,
  pixels: Uint8Array,
  size: number,
  count: number,
  pair: (k: number) => Promise<{ input: RgbImage; truth: RgbImage }>,
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
    const { input, truth } = await pair(k);
    for (const [suffix, img] of [
      ['input', input],
      ['truth', truth],
    ] as const) {
      await sharp(Buffer.from(img.data), {
        raw: { width: img.width, height: img.height, channels: 3 },
      })
        .png()
        .toFile(join(dir, `sample-${String(k).padStart(3, '0')}-${suffix}.png`));
    }
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
