// The identity trial's engine (seed section 3): a pretrained face network with a new softmax
// classifier over the training identities, fine-tuned; after every epoch the training accuracy
// and rank-1/5/10 identification of held-out probes against a gallery (fid-core's rankK), and a
// checkpoint, so that the checkpoint used as a feature extractor is chosen by rank-k.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng, ErrorCode, FidlabError } from '@fidlab/base';
import { matrix, rankK, type Matrix, type RankKResult } from '@fidlab/fid-core';
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
import {
  epochDirName,
  listIdentityCheckpoints,
  loadIdentityCheckpoint,
  loadIdentityTrainingState,
  pruneIdentityTrainingState,
  readIdentityManifest,
  saveIdentityCheckpoint,
  type IdentityCheckpointManifest,
  type IdentityOptimizerState,
  type IdentityTrainingState,
} from './identityCheckpoint.js';
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
  /**
   * Rank-k before this call's first epoch: of the pretrained body (epoch 0), or of the checkpoint
   * a resumed run continues from.
   */
  initial: { rank: Record<string, number>; cmc: number[] };
  /** The epochs this call ran (a resumed run: those after `resumedFrom`). */
  epochs: IdentityEpochResult[];
  /**
   * The checkpointed epoch with the best rank-1 (earliest on ties), or null when none was
   * written: rank-k exists to pick the checkpoint to use as a feature extractor. A resumed run
   * also weighs the earlier checkpoints (from their manifests: `cmc` empty, `seconds` 0).
   */
  best: IdentityEpochResult | null;
  /** The checkpoint epoch resumed from, or null for a fresh start. */
  resumedFrom: number | null;
  aborted: boolean;
}

export interface IdentityHooks {
  onEpoch?(e: IdentityEpochResult): Promise<void> | void;
  onBatch?(epoch: number, batch: number, batches: number): void;
  signal?: AbortSignal;
  log?(line: string): void;
}

/** `loss`, `trainAccuracy`, `rank<k>`: the metrics a checkpoint's manifest holds. */
export function epochFromManifest(dir: string, m: IdentityCheckpointManifest): IdentityEpochResult {
  const rank: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.metrics)) {
    const r = /^rank(\d+)$/.exec(k);
    if (r) rank[r[1]] = v;
  }
  return {
    epoch: m.epoch,
    loss: m.metrics.loss,
    trainAccuracy: m.metrics.trainAccuracy,
    rank,
    cmc: [],
    checkpointDir: dir,
    sha256: m.sha256,
    bytes: m.bytes,
    seconds: 0,
  };
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

/**
 * Deviation: tfjs's Adam keeps beta1^t and beta2^t as running products but its setWeights
 * recomputes them with pow, which is not bit-identical; they are saved and put back as they were
 * so that a resumed run continues exactly.
 */
type AdamBetaPowers = { accBeta1: tf.Variable; accBeta2: tf.Variable };

/** An optimizer's state as getWeights gives it: step count, then its slot variables. */
async function optimizerState(opt: tf.Optimizer): Promise<IdentityOptimizerState> {
  const [iter, ...slots] = await opt.getWeights();
  const iterations = (await iter.tensor.data())[0];
  iter.tensor.dispose(); // a fresh scalar per call; the slots are the optimizer's own variables
  const state: IdentityOptimizerState = { iterations, tensors: slots };
  if (opt instanceof tf.AdamOptimizer) {
    const a = opt as unknown as AdamBetaPowers;
    state.accBeta = [(await a.accBeta1.data())[0], (await a.accBeta2.data())[0]];
  }
  return state;
}

/** Puts a saved state back into a fresh optimizer of the same kind over the same variables. */
async function restoreOptimizer(
  opt: tf.Optimizer,
  s: IdentityOptimizerState,
  variables: number,
  cfg: IdentityConfig,
  what: string,
): Promise<void> {
  const perVariable = cfg.optimizer === 'adam' ? 2 : cfg.optimizer === 'momentum' ? 1 : 0;
  // No slots yet is fine (tfjs creates them at the first step).
  if (s.tensors.length !== 0 && s.tensors.length !== variables * perVariable) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${what}: ${s.tensors.length} ${cfg.optimizer} state tensors for ${variables} trained variables (expected ${variables * perVariable}); were other layers frozen?`,
    );
  }
  const iter = tf.scalar(s.iterations, 'int32');
  // setWeights makes its own variables from these tensors (sharing their data, so the caller
  // may dispose them).
  await opt.setWeights([{ name: 'iter', tensor: iter }, ...s.tensors]);
  iter.dispose();
  if (s.accBeta && opt instanceof tf.AdamOptimizer) {
    const a = opt as unknown as AdamBetaPowers;
    tf.tidy(() => {
      a.accBeta1.assign(tf.scalar(s.accBeta![0]));
      a.accBeta2.assign(tf.scalar(s.accBeta![1]));
    });
  }
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

  // As generator trials (train()), after the data and config checks and before any training: a
  // fresh run never writes over another run's checkpoints.
  const out = path.resolve(cfg.out);
  const existing = await listIdentityCheckpoints(out);
  if (existing.length > 0 && !cfg.resume) {
    tf.dispose([...body.params.values()]);
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${out} already has checkpoints (newest ${existing[0].dir}); resume it or choose another run dir`,
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

  const log = hooks.log ?? (() => undefined);
  let resumed: { epoch: number; dir: string } | null = null;
  try {
    if (cfg.resume) {
      resumed = await resumeIdentity(cfg, {
        body: body.spec,
        classes,
        params,
        bodyVars,
        classifier,
        bodyOpt,
        headOpt,
        log,
      });
    }
  } catch (e) {
    bodyOpt?.dispose();
    headOpt.dispose();
    tf.dispose([train.x, probeX, galleryX, y, classifier.w, classifier.b, ...params.values()]);
    throw e;
  }
  let lastCheckpoint = resumed?.dir ?? null;

  const initialRank = evaluate();
  const result: IdentityTrainResult = {
    classes,
    initial: { rank: initialRank.rank, cmc: initialRank.cmc },
    epochs: [],
    best: null,
    resumedFrom: resumed?.epoch ?? null,
    aborted: false,
  };
  const k1 = (x: IdentityEpochResult) => x.rank['1'] ?? x.cmc[0];
  if (resumed) {
    // Earlier checkpoints count for `best` too (oldest first, so ties keep the earliest).
    for (const c of (await listIdentityCheckpoints(cfg.out)).reverse()) {
      if (c.epoch > resumed.epoch) continue;
      const e = epochFromManifest(c.dir, await readIdentityManifest(c.dir));
      if (!result.best || k1(e) > k1(result.best)) result.best = e;
    }
  }
  const n = train.labels.length;
  const batches = Math.ceil(n / cfg.batchSize);
  try {
    for (let epoch = (resumed?.epoch ?? 0) + 1; epoch <= cfg.epochs; epoch++) {
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
            {
              kind: cfg.optimizer,
              body: bodyOpt ? await optimizerState(bodyOpt) : null,
              head: await optimizerState(headOpt),
            } satisfies IdentityTrainingState,
          )
        : null;
      // Only the newest checkpoint keeps the optimizer state (VGG-Face's is 0.5-1 GB).
      if (saved) {
        if (lastCheckpoint && lastCheckpoint !== saved.dir)
          await pruneIdentityTrainingState(lastCheckpoint);
        lastCheckpoint = saved.dir;
      }
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

/**
 * Loads the newest complete checkpoint of `cfg.out` into the networks and optimizers (a damaged
 * one is skipped for the one before, as generator trials do) and returns its epoch, or null when
 * there is none. A checkpoint of another body, other classes or without optimizer state is
 * refused, naming the difference.
 */
async function resumeIdentity(
  cfg: IdentityConfig,
  net: {
    body: IdentityCheckpointManifest['body'];
    classes: string[];
    params: Map<string, tf.Tensor>;
    bodyVars: tf.Variable[];
    classifier: { w: tf.Variable; b: tf.Variable };
    bodyOpt: tf.Optimizer | null;
    headOpt: tf.Optimizer;
    log: (line: string) => void;
  },
): Promise<{ epoch: number; dir: string } | null> {
  for (const { dir } of await listIdentityCheckpoints(cfg.out)) {
    let loaded: Awaited<ReturnType<typeof loadIdentityCheckpoint>>;
    let state: IdentityTrainingState | null;
    try {
      loaded = await loadIdentityCheckpoint(dir);
    } catch (err) {
      net.log(`skipping damaged checkpoint ${dir}: ${(err as Error).message}`);
      continue;
    }
    const { manifest, tensors } = loaded;
    try {
      try {
        state = await loadIdentityTrainingState(dir, manifest);
      } catch (err) {
        net.log(`skipping damaged checkpoint ${dir}: ${(err as Error).message}`);
        continue;
      }
      const stateTensors = [state?.body, state?.head].flatMap(
        (x) => x?.tensors.map((t) => t.tensor) ?? [],
      );
      try {
        if (!state) {
          throw new FidlabError(
            ErrorCode.INVALID_INPUT,
            `${dir} has no optimizer state (written before identity trials could resume, or not the newest checkpoint), so the trial cannot resume from it exactly`,
          );
        }
        if (state.kind !== cfg.optimizer) {
          throw new FidlabError(
            ErrorCode.INVALID_CONFIG,
            `checkpoint ${dir} was trained with optimizer ${state.kind}, this run asks for ${cfg.optimizer}`,
          );
        }
        if ((state.body === null) !== (net.bodyOpt === null)) {
          throw new FidlabError(
            ErrorCode.INVALID_CONFIG,
            `checkpoint ${dir} ${state.body ? 'trained' : 'froze'} the whole body, this run ${net.bodyOpt ? 'trains' : 'freezes'} it`,
          );
        }
        restoreWeights(dir, manifest, tensors, net);
        if (net.bodyOpt && state.body) {
          await restoreOptimizer(
            net.bodyOpt,
            state.body,
            net.bodyVars.length,
            cfg,
            `${dir} (body)`,
          );
        }
        await restoreOptimizer(net.headOpt, state.head, 2, cfg, `${dir} (classifier)`);
      } finally {
        tf.dispose(stateTensors); // restoreOptimizer's variables hold their own references
      }
      net.log(`resuming ${cfg.out} from ${dir} (epoch ${manifest.epoch})`);
      return { epoch: manifest.epoch, dir };
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }
  net.log(`no complete checkpoint in ${cfg.out}: starting at epoch 1`);
  return null;
}

/** Copies a checkpoint's weights into the run's variables (frozen ones replace the pretrained). */
function restoreWeights(
  dir: string,
  manifest: IdentityCheckpointManifest,
  tensors: Map<string, tf.Tensor>,
  net: {
    body: IdentityCheckpointManifest['body'];
    classes: string[];
    params: Map<string, tf.Tensor>;
    classifier: { w: tf.Variable; b: tf.Variable };
  },
): void {
  const b = manifest.body;
  if (b.kind !== net.body.kind || b.inputSize !== net.body.inputSize) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `checkpoint ${dir} is a ${b.kind} body at ${b.inputSize} px, this run a ${net.body.kind} body at ${net.body.inputSize} px`,
    );
  }
  if (manifest.classes.join('\n') !== net.classes.join('\n')) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `checkpoint ${dir} classifies ${manifest.classes.length} identities, this run's training split has ${net.classes.length} (or other ones): the dataset changed`,
    );
  }
  const targets = new Map<string, tf.Tensor>([
    ...net.params,
    ['classifier/weight', net.classifier.w],
    ['classifier/bias', net.classifier.b],
  ]);
  const missing = [...targets.keys()].filter((k) => !tensors.has(k));
  const misShaped = [...targets.keys()].filter(
    (k) => tensors.has(k) && tensors.get(k)!.shape.join(',') !== targets.get(k)!.shape.join(','),
  );
  if (missing.length > 0 || misShaped.length > 0) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `checkpoint ${dir} does not fit this run's network: ${[
        missing.length ? `missing ${missing.slice(0, 4).join(', ')}` : '',
        misShaped.length ? `mis-shaped ${misShaped.slice(0, 4).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}`,
    );
  }
  for (const [name, target] of targets) {
    const t = tensors.get(name)!;
    if (target instanceof tf.Variable) {
      target.assign(t);
    } else {
      // A frozen parameter: a constant tensor, replaced by the checkpoint's (kept, not disposed).
      target.dispose();
      net.params.set(name, t);
      tensors.delete(name);
    }
  }
}
