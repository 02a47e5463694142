import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  assertDatasetOk,
  batchCount,
  checkDataset,
  createImageCache,
  discoverDataset,
  itemsOfSplit,
  loadBatches,
  mixSeed,
} from '@fidlab/datasets';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { createGenerator, createPatchGan, describeModel, type Generator } from '@fidlab/models';
import { Adam } from './adam.js';
import {
  assignParams,
  checkSameArchitecture,
  DISCRIMINATOR_FILE,
  GENERATOR_FILE,
  listCheckpoints,
  MANIFEST_FILE,
  OPTIMIZER_FILE,
  pruneTrainingState,
  readCheckpoint,
  saveCheckpoint,
  type CheckpointManifest,
} from './checkpoint.js';
import { describeRemoved, removeUnfinishedCheckpoints } from '../checkpointFolder.js';
import { datasetFingerprint } from './datasetFingerprint.js';
import { trainStep, type Nets } from './trainStep.js';
import { lrFactor } from './lrSchedule.js';
import { isOutOfMemory, outOfMemoryHint } from '../outOfMemory.js';
import {
  loadSizeOf,
  modelConfigOf,
  parseTrialConfig,
  type TrialConfig,
  type TrialConfigInput,
} from './trialConfig.js';

export const METRICS_FILE = 'metrics.jsonl';
/** pix2pix's NLayerDiscriminator depth. */
export const D_LAYERS = 3;

/** What `onEpoch` gets after each epoch's checkpoint is on disk. */
export interface EpochResult {
  epoch: number;
  /** epochs + epochs_decay */
  epochs: number;
  /** Mean over the epoch's steps: G_GAN, G_L1 (x lambda_l1, as pix2pix prints it), L1, D_real, D_fake, KL. */
  losses: Record<string, number>;
  /** The epoch's last step. */
  last: Record<string, number>;
  lr: number;
  steps: number;
  checkpointDir: string;
  /** sha256 of the checkpoint's manifest.json (which holds every file's sha256). */
  sha256: string;
  bytes: number;
  seconds: number;
  config: TrialConfig;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  /** 1-based within the epoch. */
  step: number;
  steps: number;
  globalStep: number;
  losses: Record<string, number>;
  /** Over this epoch so far. */
  stepsPerSecond: number;
}

export interface TrainHooks {
  onEpoch?(e: EpochResult): Promise<void> | void;
  onStep?(p: StepProgress): void;
  /** Abort between steps: the run stops with its last complete checkpoint. */
  signal?: AbortSignal;
  log?(line: string): void;
}

export interface TrainResult {
  runDir: string;
  status: 'completed' | 'aborted';
  /** The last epoch with a checkpoint (0 when none). */
  epoch: number;
  lastCheckpoint: string | null;
  /** The epoch resumed from, or null for a fresh start. */
  resumedFrom: number | null;
}

/** Sum of |w| over every parameter: finite iff every weight is. */
function weightsFinite(set: Generator['params']): boolean {
  return tf.tidy(() => {
    const sums = set.trainable().map((v) => tf.sum(tf.abs(v)));
    return Number.isFinite(tf.addN(sums).dataSync()[0]);
  });
}

/**
 * Trains one trial: pix2pix (GAN + lambda L1), or reconstruction only (`gan_mode: 'none'`), with
 * the VAE's KL term for `model: 'vae'`. After each epoch: a checkpoint in
 * RUN_DIR/checkpoints/epoch-NNNN, a line in RUN_DIR/metrics.jsonl, then `hooks.onEpoch`.
 * Deterministic for a seed on a given backend; `resume: true` continues exactly from the last
 * complete checkpoint. A NaN/Inf loss stops the trial (NOT_FINITE, naming epoch and step) and
 * leaves the last good checkpoint as the newest. The caller picks the tfjs backend first.
 */
export async function train(
  input: TrialConfigInput | TrialConfig,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const c = parseTrialConfig(input);
  const log = hooks.log ?? (() => undefined);
  const runDir = resolve(c.run_dir);
  const total = c.epochs + c.epochs_decay;

  // Data: refuse a dataset with problems before any training.
  const index = await discoverDataset(c.data.root, {
    layout: c.data.layout,
    pairPattern: c.data.pair_pattern,
  });
  // A folder of single images can only be sketches for the sketch auto-encoder (seed 4.1).
  const single = index.layout === 'single';
  if (single && c.direction !== 'sketch2sketch') {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${index.root} holds unpaired images; photo2sketch training needs photo/sketch pairs ` +
        '(paired or aligned layout); a folder of sketches alone suits --direction sketch2sketch',
    );
  }
  const items = itemsOfSplit(index, c.data.split);
  assertDatasetOk(await checkDataset(index));
  const fingerprint = await datasetFingerprint(index, c.data.split);
  const steps = batchCount(items.length, c.batch_size);

  // Networks and optimisers (Adam with beta1 0.5 for both, as pix2pix).
  const modelConfig = modelConfigOf(c);
  const gan = c.gan_mode !== 'none';
  const G = createGenerator(modelConfig, { seed: c.seed });
  const D = gan
    ? createPatchGan(
        { inChannels: 6, ndf: c.ndf, nLayers: D_LAYERS },
        { seed: mixSeed(c.seed, 0xd15c) },
      )
    : null;
  const nets: Nets = {
    G,
    D,
    optG: new Adam(G.params, c.beta1, c.beta2),
    optD: D ? new Adam(D.params, c.beta1, c.beta2) : null,
  };
  const disposeAll = () => {
    G.dispose();
    D?.dispose();
    nets.optG.dispose();
    nets.optD?.dispose();
  };

  try {
    let start = 1;
    let globalStep = 0;
    let resumedFrom: number | null = null;
    let lastCheckpoint: string | null = null;
    const existing = await listCheckpoints(runDir);
    if (existing.length > 0 && !c.resume) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${runDir} already has checkpoints (newest ${existing[0].dir}); resume it or choose another run dir`,
      );
    }
    // What crashed checkpoint writes left (hundreds of MB each at 256 px); said in the next line.
    const cleaned = describeRemoved(await removeUnfinishedCheckpoints(runDir));
    if (cleaned && !c.resume) log(`${runDir}: starting at epoch 1${cleaned}`);
    if (c.resume) {
      let ck: Awaited<ReturnType<typeof readCheckpoint>> | null = null;
      let dir = '';
      for (const e of existing) {
        try {
          ck = await readCheckpoint(e.dir);
          dir = e.dir;
          break;
        } catch (err) {
          log(`skipping damaged checkpoint ${e.dir}: ${(err as Error).message}`);
        }
      }
      if (!ck) {
        log(`no complete checkpoint in ${runDir}: starting at epoch 1${cleaned}`);
      } else {
        const m = ck.manifest;
        checkSameArchitecture(m.config, c, dir);
        if (!ck.hasState) {
          throw new FidlabError(
            ErrorCode.INVALID_INPUT,
            `${dir} has no training state (pruned), so the run cannot resume from it exactly`,
          );
        }
        assignParams(
          G.params,
          ck.read(GENERATOR_FILE),
          join(dir, GENERATOR_FILE),
          describeModel(modelConfig),
        );
        if (D)
          assignParams(
            D.params,
            ck.read(DISCRIMINATOR_FILE),
            join(dir, DISCRIMINATOR_FILE),
            'PatchGAN',
          );
        const opt = ck.read(OPTIMIZER_FILE);
        const prefixed = (p: string) =>
          new Map(
            [...opt].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]),
          );
        nets.optG.load(m.optimizer.g_step, prefixed('G.'), join(dir, OPTIMIZER_FILE));
        nets.optD?.load(m.optimizer.d_step, prefixed('D.'), join(dir, OPTIMIZER_FILE));
        if (m.dataset.fingerprint !== fingerprint) {
          log(
            `warning: the dataset differs from the one ${dir} was trained on (fingerprint changed)`,
          );
        }
        const changed = (Object.keys(c) as (keyof TrialConfig)[]).filter(
          (k) => k !== 'resume' && JSON.stringify(c[k]) !== JSON.stringify(m.config[k]),
        );
        if (changed.length) log(`note: resuming with changed settings: ${changed.join(', ')}`);
        start = m.epoch + 1;
        globalStep = m.step;
        resumedFrom = m.epoch;
        lastCheckpoint = dir;
        log(`resuming ${runDir} from ${dir} (epoch ${m.epoch}, step ${m.step})${cleaned}`);
      }
    }
    await mkdir(runDir, { recursive: true });
    await truncateMetrics(join(runDir, METRICS_FILE), start);

    log(
      `training ${describeModel(modelConfig)}${gan ? ` + PatchGAN ndf ${c.ndf} (${c.gan_mode})` : ' (reconstruction only)'}` +
        `, ${c.direction}, ${items.length} pairs in split '${c.data.split}', batch ${c.batch_size}, ` +
        `${steps} steps/epoch, epochs ${start}..${total}, backend ${tf.getBackend()}; ` +
        `parameters G ${G.params.countParams().toLocaleString('en-US')}` +
        (D ? `, D ${D.params.countParams().toLocaleString('en-US')}` : ''),
    );

    const cache = createImageCache();
    const augment = { loadSize: loadSizeOf(c), flip: c.data.flip };
    let epoch = start;
    for (; epoch <= total; epoch++) {
      if (hooks.signal?.aborted) break;
      const t0 = performance.now();
      const lr = c.lr * lrFactor(epoch, c.epochs, c.epochs_decay);
      const sums: Record<string, number> = {};
      let last: Record<string, number> = {};
      let step = 0;
      let aborted = false;
      const batches = loadBatches(index, {
        size: c.size,
        split: c.data.split,
        augment,
        batchSize: c.batch_size,
        shuffle: true,
        seed: c.seed,
        epoch,
        cache,
      });
      for await (const batch of batches) {
        if (hooks.signal?.aborted) {
          aborted = true;
          break;
        }
        step++;
        globalStep++;
        const shape: [number, number, number, number] = [batch.n, batch.size, batch.size, 3];
        const sketch = tf.tensor4d(single ? batch.a : batch.b!, shape);
        const input = c.direction === 'photo2sketch' ? tf.tensor4d(batch.a, shape) : sketch;
        try {
          last = trainStep(c, nets, input, sketch, lr, mixSeed(c.seed, epoch, step, 0x57e9));
        } catch (e) {
          if (isOutOfMemory(e)) {
            throw new FidlabError(
              ErrorCode.INVALID_CONFIG,
              `out of memory at batch size ${c.batch_size} (${describeModel(modelConfig)}, backend ` +
                `${tf.getBackend()}, epoch ${epoch}, step ${step}): ${outOfMemoryHint(c.batch_size)}`,
              { cause: e },
            );
          }
          throw e;
        } finally {
          tf.dispose(input === sketch ? [sketch] : [input, sketch]);
        }
        const bad = Object.entries(last).find(([, v]) => !Number.isFinite(v));
        if (bad) {
          throw new FidlabError(
            ErrorCode.NOT_FINITE,
            `loss ${bad[0]} is ${bad[1]} at epoch ${epoch}, step ${step}: training stopped; ` +
              `the last good checkpoint is ${lastCheckpoint ?? 'none (no epoch completed)'}`,
          );
        }
        for (const [k, v] of Object.entries(last)) sums[k] = (sums[k] ?? 0) + v;
        hooks.onStep?.({
          epoch,
          epochs: total,
          step,
          steps,
          globalStep,
          losses: last,
          stepsPerSecond: step / ((performance.now() - t0) / 1000),
        });
      }
      if (aborted) break;
      if (!weightsFinite(G.params)) {
        throw new FidlabError(
          ErrorCode.NOT_FINITE,
          `generator weights became non-finite at epoch ${epoch}, step ${step}: training stopped; ` +
            `the last good checkpoint is ${lastCheckpoint ?? 'none (no epoch completed)'}`,
        );
      }
      const losses = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / step]));
      const manifest: Omit<CheckpointManifest, 'files' | 'format' | 'created_at' | 'layout'> = {
        epoch,
        step: globalStep,
        config: c,
        model: modelConfig,
        discriminator: D ? { inChannels: 6, ndf: c.ndf, nLayers: D_LAYERS } : null,
        rng: {
          scheme:
            'xoshiro128** seeded by mixSeed(seed, epoch[, step]): data order, crops, dropout, noise',
          seed: c.seed,
          next_epoch: epoch + 1,
        },
        optimizer: {
          kind: 'adam',
          file: OPTIMIZER_FILE,
          g_step: nets.optG.step,
          d_step: nets.optD?.step ?? 0,
        },
        dataset: { fingerprint, split: c.data.split, items: items.length },
        losses,
        lr,
      };
      const saved = await saveCheckpoint(runDir, manifest, {
        generator: G.params,
        discriminator: D?.params ?? null,
        optimizer: [
          ...nets.optG.tensors().map(([k, t]) => [`G.${k}`, t] as [string, tf.Tensor]),
          ...(nets.optD?.tensors().map(([k, t]) => [`D.${k}`, t] as [string, tf.Tensor]) ?? []),
        ],
      });
      if (c.keep_state === 'last' && lastCheckpoint) await pruneTrainingState(lastCheckpoint);
      lastCheckpoint = saved.dir;
      const seconds = (performance.now() - t0) / 1000;
      await appendFile(
        join(runDir, METRICS_FILE),
        JSON.stringify({
          epoch,
          losses,
          last,
          lr,
          steps: step,
          seconds,
          checkpoint: saved.dir,
          sha256: saved.sha256,
        }) + '\n',
      );
      await hooks.onEpoch?.({
        epoch,
        epochs: total,
        losses,
        last,
        lr,
        steps: step,
        checkpointDir: saved.dir,
        sha256: saved.sha256,
        bytes: saved.bytes,
        seconds,
        config: c,
      });
    }
    const done = epoch > total;
    return {
      runDir,
      status: done ? 'completed' : 'aborted',
      epoch: done ? total : epoch - 1,
      lastCheckpoint,
      resumedFrom,
    };
  } finally {
    disposeAll();
  }
}

/** What `onEpoch` reported for a checkpoint, as far as the files on disk still say it. */
export type CheckpointEpoch = Pick<
  EpochResult,
  'epoch' | 'losses' | 'lr' | 'checkpointDir' | 'sha256' | 'bytes'
> & {
  /** From the epoch's metrics.jsonl line; null when that line is gone. */
  seconds: number | null;
};

/**
 * Rebuilds an epoch's report from its checkpoint (files verified against the manifest) and its
 * metrics.jsonl line, for a caller that died after the checkpoint was written but before it had
 * recorded the epoch: a resumed `train` starts after the newest checkpoint and never reports
 * that epoch again. sha256 and bytes are computed as `saveCheckpoint` returned them.
 */
export async function checkpointEpoch(checkpointDir: string): Promise<CheckpointEpoch> {
  const ck = await readCheckpoint(checkpointDir);
  const m = ck.manifest;
  const manifestBytes = (await stat(join(checkpointDir, MANIFEST_FILE))).size;
  // RUN_DIR/checkpoints/epoch-NNNN -> RUN_DIR/metrics.jsonl
  const metricsPath = join(dirname(dirname(checkpointDir)), METRICS_FILE);
  let seconds: number | null = null;
  if (existsSync(metricsPath)) {
    for (const line of (await readFile(metricsPath, 'utf8')).split('\n')) {
      try {
        const r = JSON.parse(line) as { epoch?: number; seconds?: number; sha256?: string };
        if (r.epoch === m.epoch && r.sha256 === ck.sha256 && typeof r.seconds === 'number')
          seconds = r.seconds;
      } catch {
        // A line cut short by the crash: no duration for it.
      }
    }
  }
  return {
    epoch: m.epoch,
    losses: m.losses,
    lr: m.lr,
    checkpointDir,
    sha256: ck.sha256,
    bytes: m.files.reduce((n, f) => n + f.bytes, manifestBytes),
    seconds,
  };
}

/** Keeps only the metrics lines of epochs before `start` (a resumed run rewrites later ones). */
async function truncateMetrics(path: string, start: number): Promise<void> {
  if (!existsSync(path)) return;
  const kept = (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => {
      try {
        return (JSON.parse(l) as { epoch: number }).epoch < start;
      } catch {
        return false;
      }
    });
  await writeFile(path, kept.map((l) => l + '\n').join(''));
}
