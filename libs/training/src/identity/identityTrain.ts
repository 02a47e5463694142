// The identity trial's engine (seed section 3): a pretrained face network with a new softmax
// classifier over the training identities, fine-tuned; after every epoch the training accuracy
// and rank-1/5/10 identification of held-out probes against a gallery (fid-core's rankK), and a
// checkpoint, so that the checkpoint used as a feature extractor is chosen by rank-k.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRng, ErrorCode, FidlabError } from '@fidlab/base';
import { rankK, type RankKResult } from '@fidlab/fid-core';
import { discoverDataset } from '@fidlab/datasets';
import { createIdentityBody, IDENTITY_BODY_INPUT } from '@fidlab/models';
import { describeRemoved, removeUnfinishedCheckpoints } from '../checkpointFolder.js';
import {
  epochDirName,
  listIdentityCheckpoints,
  pruneIdentityTrainingState,
  readIdentityManifest,
  saveIdentityCheckpoint,
  type IdentityTrainingState,
} from './identityCheckpoint.js';
import {
  parseIdentityConfig,
  type IdentityConfig,
  type IdentityConfigInput,
} from './identityConfig.js';
import {
  frozenNames,
  imageSet,
  layerFeatures,
  loadImages,
  type LabelledImages,
} from './identityData.js';
import { makeOptimizer, optimizerState } from './identityOptimizer.js';
import {
  epochFromManifest,
  type IdentityEpochResult,
  type IdentityHooks,
  type IdentityTrainResult,
} from './identityResult.js';
import { resumeIdentity } from './identityResume.js';

export {
  epochFromManifest,
  type IdentityEpochResult,
  type IdentityHooks,
  type IdentityTrainResult,
} from './identityResult.js';

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
  if (!cfg.resume) {
    // A fresh start also clears what crashed checkpoint writes left (resumeIdentity does so too).
    const cleaned = describeRemoved(await removeUnfinishedCheckpoints(out));
    if (cleaned) hooks.log?.(`${out}: starting at epoch 1${cleaned}`);
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
