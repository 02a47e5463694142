// The identity trial's engine (seed section 3): a pretrained face network with a new softmax
// classifier over the training identities, fine-tuned; after every epoch the training accuracy
// and rank-1/5/10 identification of held-out probes against a gallery (fid-core's rankK), and a
// checkpoint, so that the checkpoint used as a feature extractor is chosen by rank-k.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  createRng,
  ErrorCode,
  FidlabError,
  matrix,
  rankK,
  type Matrix,
  type RankKResult,
} from '@fidlab/fid-core';
import {
  decodeImage,
  discoverDataset,
  itemsOfSplit,
  listImages,
  toUnitFloat,
  type DatasetIndex,
  type DatasetItem,
} from '@fidlab/datasets';
import {
  createIdentityBody,
  IDENTITY_BODY_INPUT,
  paramGroup,
  type IdentityBody,
} from './identityBody.js';
import { epochDirName, saveIdentityCheckpoint } from './identityCheckpoint.js';
import {
  parseIdentityConfig,
  type IdentityConfig,
  type IdentityConfigInput,
  type IdentityImageSet,
} from './identityConfig.js';

export interface IdentityEpochResult {
  epoch: number;
  /** Mean softmax cross-entropy over the epoch's batches. */
  loss: number;
  /** Share of training images classified correctly during the epoch. */
  trainAccuracy: number;
  /** rank[String(k)] for each eval k (fid-core's rankK). */
  rank: Record<string, number>;
  cmc: number[];
  /** null on epochs without a checkpoint (checkpointEvery). */
  checkpointDir: string | null;
  sha256: string | null;
  bytes: number;
  seconds: number;
}

export interface IdentityTrainResult {
  classes: string[];
  /** Rank-k of the pretrained body before any training (epoch 0). */
  initial: { rank: Record<string, number>; cmc: number[] };
  epochs: IdentityEpochResult[];
  /**
   * The checkpointed epoch with the best rank-1 (earliest on ties), or null when none was
   * written: rank-k exists to pick the checkpoint to use as a feature extractor.
   */
  best: IdentityEpochResult | null;
  aborted: boolean;
}

export interface IdentityHooks {
  onEpoch?(e: IdentityEpochResult): Promise<void> | void;
  onBatch?(epoch: number, batch: number, batches: number): void;
  signal?: AbortSignal;
}

/** Labelled images, resized to the body's input, as one [n, S, S, 3] tensor in [0,1]. */
interface LabelledImages {
  x: tf.Tensor4D;
  labels: string[];
}

const stem = (p: string) => path.basename(p, path.extname(p));
const identityOf = (it: DatasetItem) => it.identity ?? stem(it.b ?? it.a);

/**
 * Decodes images and brings each to the body's input size with the body's own resize, so that
 * training sees exactly what `identity:<dir>:<layer>` will see at extraction time.
 */
async function loadImages(files: string[], body: IdentityBody): Promise<tf.Tensor4D> {
  const out: tf.Tensor4D[] = [];
  try {
    for (const f of files) {
      const img = await decodeImage(f);
      out.push(
        tf.tidy(() =>
          body.resize(tf.tensor4d(toUnitFloat(img.data), [1, img.height, img.width, 3])),
        ),
      );
    }
    return tf.concat(out, 0);
  } finally {
    tf.dispose(out);
  }
}

/** Resolves a probe/gallery/training image set to files and identities. */
function imageSet(
  index: DatasetIndex,
  set: IdentityImageSet,
  defaultSplit: string,
  what: string,
): { files: string[]; labels: string[] } {
  if ('dir' in set) {
    const items = itemsOfSplit(index, set.split ?? defaultSplit);
    const byStem = new Map<string, string>();
    for (const it of items) {
      byStem.set(stem(it.a), identityOf(it));
      if (it.b) byStem.set(stem(it.b), identityOf(it));
    }
    const files = listImages(set.dir).images;
    if (files.length === 0) {
      throw new FidlabError(ErrorCode.INVALID_INPUT, `${what}: ${set.dir} holds no images`);
    }
    const unmatched = files.filter((f) => !byStem.has(stem(f)));
    if (unmatched.length > 0) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${what}: ${unmatched.length} of ${files.length} images in ${set.dir} match no item of split '${set.split ?? defaultSplit}' by file name (first: ${unmatched
          .slice(0, 3)
          .map((f) => path.basename(f))
          .join(', ')})`,
      );
    }
    return { files, labels: files.map((f) => byStem.get(stem(f)) as string) };
  }
  const items = itemsOfSplit(index, set.split);
  const files = items.map((it) => (set.images === 'photos' ? it.a : (it.b ?? it.a)));
  return { files, labels: items.map(identityOf) };
}

/** Features of one body layer (or 'logits'), in batches, as a float64 matrix. */
function layerFeatures(
  body: IdentityBody,
  params: Map<string, tf.Tensor>,
  classifier: { w: tf.Tensor2D; b: tf.Tensor1D },
  x: tf.Tensor4D,
  layer: string,
  batchSize: number,
): Matrix {
  const n = x.shape[0];
  let out: Float64Array | null = null;
  let cols = 0;
  for (let start = 0; start < n; start += batchSize) {
    const rows = Math.min(batchSize, n - start);
    const f = tf.tidy(() => {
      const xb = x.slice([start, 0, 0, 0], [rows, -1, -1, -1]);
      if (layer === 'logits') {
        const feat = body.forward(params, xb, [body.featureLayer])[body.featureLayer];
        return tf.add(tf.matMul(feat, classifier.w), classifier.b) as tf.Tensor2D;
      }
      return body.forward(params, xb, [layer])[layer];
    });
    const data = f.dataSync();
    cols = f.shape[1];
    f.dispose();
    out ??= new Float64Array(n * cols);
    out.set(data, start * cols);
  }
  return matrix(n, cols, out ?? new Float64Array(0));
}

/** Which body parameters stay fixed under `freezeThrough` or `frozen`. */
function frozenNames(
  body: IdentityBody,
  freezeThrough: string | undefined,
  count: number | undefined,
): Set<string> {
  const frozen = new Set<string>();
  if (count !== undefined) {
    if (count > body.groups.length) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `frozen: ${count} exceeds the body's ${body.groups.length} parameter groups`,
      );
    }
    freezeThrough = count === 0 ? undefined : body.groups[count - 1];
  }
  if (freezeThrough === undefined) return frozen;
  const last =
    freezeThrough === 'body' ? body.groups.length - 1 : body.groups.indexOf(freezeThrough);
  if (last < 0) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `freezeThrough: unknown layer '${freezeThrough}' (known: body, ${body.groups.join(', ')})`,
    );
  }
  const groups = new Set(body.groups.slice(0, last + 1));
  for (const name of body.params.keys()) if (groups.has(paramGroup(name))) frozen.add(name);
  return frozen;
}

function makeOptimizer(cfg: IdentityConfig, lr: number): tf.Optimizer {
  if (cfg.optimizer === 'adam') return tf.train.adam(lr);
  if (cfg.optimizer === 'momentum') return tf.train.momentum(lr, cfg.momentum);
  return tf.train.sgd(lr);
}

/**
 * Runs the identity trial. Usage:
 *   const r = await trainIdentity({ data: 'cufs', out: 'runs/id1', epochs: 20, lr: 1e-7 },
 *     { onEpoch: (e) => console.log(e.epoch, e.trainAccuracy, e.rank['1']) });
 * Checkpoints: `${out}/checkpoints/epoch-NNNN/`, loadable as `identity:<dir>:<layer>`.
 */
export async function trainIdentity(
  input: IdentityConfigInput | IdentityConfig,
  hooks: IdentityHooks = {},
): Promise<IdentityTrainResult> {
  const cfg = parseIdentityConfig(input);
  const index = await discoverDataset(cfg.data, { identityPattern: cfg.identityPattern });
  const body = await createIdentityBody(
    { kind: cfg.body.kind, inputSize: cfg.body.inputSize ?? IDENTITY_BODY_INPUT[cfg.body.kind] },
    cfg.body.weights,
  );
  const evalLayer = cfg.eval.layer ?? body.featureLayer;
  if (evalLayer !== 'logits' && !(evalLayer in body.layers)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `eval.layer: unknown layer '${evalLayer}' (known: ${Object.keys(body.layers).join(', ')}, logits)`,
    );
  }

  const trainSet = imageSet(index, cfg.train, cfg.train.split, 'train');
  const classes = [...new Set(trainSet.labels)].sort();
  if (classes.length < 2) {
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `train split '${cfg.train.split}' of ${cfg.data} has ${classes.length} identity; a classifier needs >= 2 (identities come from the manifest's identity column or identityPattern)`,
    );
  }
  const gallerySplit = 'split' in cfg.eval.gallery ? cfg.eval.gallery.split : undefined;
  const defaultSplit = gallerySplit ?? cfg.train.split;
  const probeSet = imageSet(index, cfg.eval.probe, defaultSplit, 'eval.probe');
  const gallerySet = imageSet(index, cfg.eval.gallery, defaultSplit, 'eval.gallery');
  if (probeSet.files.join('\n') === gallerySet.files.join('\n')) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      'eval.probe and eval.gallery are the same images (rank-1 would be 1 by construction); probe generated sketches ({ dir }) or another split',
    );
  }

  const train: LabelledImages = {
    x: await loadImages(trainSet.files, body),
    labels: trainSet.labels,
  };
  const probeX = await loadImages(probeSet.files, body);
  const galleryX = await loadImages(gallerySet.files, body);
  const classOf = new Map(classes.map((c, i) => [c, i]));
  const y = tf.tensor1d(
    train.labels.map((l) => classOf.get(l) as number),
    'int32',
  );

  // Trainable parameters become variables; frozen ones stay constant tensors.
  const frozen = frozenNames(body, cfg.freezeThrough, cfg.frozen);
  const params = new Map<string, tf.Tensor>();
  const bodyVars: tf.Variable[] = [];
  for (const [name, t] of body.params) {
    if (frozen.has(name)) params.set(name, t);
    else {
      const v = tf.variable(t, true);
      t.dispose();
      params.set(name, v);
      bodyVars.push(v);
    }
  }
  const dims = body.layers[body.featureLayer];
  // The new classifier: N(0, 0.01) weights as Caffe's fine-tuning recipes initialise a new fc8.
  const classifier = {
    w: tf.variable(
      tf.randomNormal([dims, classes.length], 0, 0.01, 'float32', cfg.seed),
      true,
    ) as tf.Variable<tf.Rank.R2>,
    b: tf.variable(tf.zeros([classes.length]), true) as tf.Variable<tf.Rank.R1>,
  };
  const bodyOpt = bodyVars.length > 0 ? makeOptimizer(cfg, cfg.lr) : null;
  const headOpt = makeOptimizer(cfg, cfg.classifierLr ?? cfg.lr);

  const evaluate = (): RankKResult => {
    const p = layerFeatures(body, params, classifier, probeX, evalLayer, cfg.batchSize);
    const g = layerFeatures(body, params, classifier, galleryX, evalLayer, cfg.batchSize);
    return rankK(p, g, {
      ks: cfg.eval.ks,
      metric: cfg.eval.metric,
      probeLabels: probeSet.labels,
      galleryLabels: gallerySet.labels,
    });
  };

  const initialRank = evaluate();
  const result: IdentityTrainResult = {
    classes,
    initial: { rank: initialRank.rank, cmc: initialRank.cmc },
    epochs: [],
    best: null,
    aborted: false,
  };
  const n = train.labels.length;
  const batches = Math.ceil(n / cfg.batchSize);
  try {
    for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
      const t0 = performance.now();
      const rng = createRng((cfg.seed * 0x9e3779b1 + epoch) >>> 0);
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < batches; b++) {
        if (hooks.signal?.aborted) {
          result.aborted = true;
          return result;
        }
        const idx = tf.tensor1d(order.slice(b * cfg.batchSize, (b + 1) * cfg.batchSize), 'int32');
        let logitsKept: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const xb = tf.gather(train.x, idx) as tf.Tensor4D;
          const yb = tf.oneHot(tf.gather(y, idx), classes.length);
          const dropout = { seed: (cfg.seed * 1000003 + epoch * 10007 + b * 3) >>> 0 };
          const feat = body.forward(params, xb, [body.featureLayer], dropout)[body.featureLayer];
          const logits = tf.add(tf.matMul(feat, classifier.w), classifier.b);
          logitsKept = tf.keep(logits);
          return tf.losses.softmaxCrossEntropy(yb, logits) as tf.Scalar;
        }, [...bodyVars, classifier.w, classifier.b]);
        const rows = idx.shape[0];
        lossSum += (await value.data())[0] * rows;
        const hits = tf.tidy(() =>
          tf.sum(tf.equal(tf.argMax(logitsKept as unknown as tf.Tensor, 1), tf.gather(y, idx))),
        );
        correct += (await hits.data())[0];
        const headGrads = {
          [classifier.w.name]: grads[classifier.w.name],
          [classifier.b.name]: grads[classifier.b.name],
        };
        headOpt.applyGradients(headGrads);
        if (bodyOpt) {
          const bg: Record<string, tf.Tensor> = {};
          for (const v of bodyVars) bg[v.name] = grads[v.name];
          bodyOpt.applyGradients(bg);
        }
        tf.dispose([value, hits, idx, logitsKept as unknown as tf.Tensor, ...Object.values(grads)]);
        hooks.onBatch?.(epoch, b + 1, batches);
      }
      const r = evaluate();
      const metrics: Record<string, number> = {
        loss: lossSum / n,
        trainAccuracy: correct / n,
      };
      for (const [k, v] of Object.entries(r.rank)) metrics[`rank${k}`] = v;
      const save = epoch % cfg.checkpointEvery === 0 || epoch === cfg.epochs;
      const saved = save
        ? await saveIdentityCheckpoint(
            path.join(cfg.out, 'checkpoints', epochDirName(epoch)),
            { body: body.spec, featureLayer: body.featureLayer, classes, epoch, metrics },
            new Map([
              ...params,
              ['classifier/weight', classifier.w],
              ['classifier/bias', classifier.b],
            ]),
          )
        : null;
      const e: IdentityEpochResult = {
        epoch,
        loss: metrics.loss,
        trainAccuracy: metrics.trainAccuracy,
        rank: r.rank,
        cmc: r.cmc,
        checkpointDir: saved?.dir ?? null,
        sha256: saved?.sha256 ?? null,
        bytes: saved?.bytes ?? 0,
        seconds: (performance.now() - t0) / 1000,
      };
      result.epochs.push(e);
      const k1 = (x: IdentityEpochResult) => x.rank['1'] ?? x.cmc[0];
      if (saved && (!result.best || k1(e) > k1(result.best))) result.best = e;
      await hooks.onEpoch?.(e);
    }
    return result;
  } finally {
    bodyOpt?.dispose();
    headOpt.dispose();
    tf.dispose([train.x, probeX, galleryX, y, classifier.w, classifier.b, ...params.values()]);
  }
}
