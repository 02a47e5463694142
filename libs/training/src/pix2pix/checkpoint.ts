// Generator trials' checkpoints: RUN_DIR/checkpoints/epoch-NNNN/ with generator, discriminator and
// optimizer as safetensors and manifest.json (written through checkpointFolder.ts).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  createGenerator,
  describeModel,
  type Generator,
  type ModelConfig,
  type ParamSet,
} from '@fidlab/models';
import {
  encodeSafetensors,
  readSafetensors,
  type StateDict,
  type WeightTensor,
} from '@fidlab/weights';
import {
  checkpointsDir,
  epochDirName,
  listCheckpointFolders,
  pruneCheckpointFiles,
  sha256Hex,
  writeCheckpoint,
} from '../checkpointFolder.js';
import { ARCHITECTURE_FIELDS, parseTrialConfig, type TrialConfig } from './trialConfig.js';

export const CHECKPOINT_FORMAT = 'fidlab-checkpoint/1';
export const MANIFEST_FILE = 'manifest.json';
export const GENERATOR_FILE = 'generator.safetensors';
export const DISCRIMINATOR_FILE = 'discriminator.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

export { checkpointsDir, epochDirName };

export interface CheckpointFile {
  name: string;
  bytes: number;
  sha256: string;
  /** 'weights': the generator (what evaluation needs); 'state': what resuming also needs. */
  role: 'weights' | 'state';
}

/** Lists the state files removed from an older checkpoint (keep_state: 'last'). */
export const PRUNED_FILE = 'pruned.json';

/** manifest.json: what a checkpoint is, how it was made, and how to check its files. */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  epoch: number;
  /** Optimizer steps done so far (all epochs). */
  step: number;
  config: TrialConfig;
  model: ModelConfig;
  discriminator: { inChannels: number; ndf: number; nLayers: number } | null;
  /**
   * Randomness is a function of (seed, epoch, step): data order and crops per (seed, epoch),
   * dropout masks and VAE noise per (seed, epoch, step). Nothing else needs saving to resume.
   */
  rng: { scheme: string; seed: number; next_epoch: number };
  optimizer: { kind: 'adam'; file: string; g_step: number; d_step: number };
  dataset: { fingerprint: string; split: string; items: number };
  /** Mean losses of this epoch and the learning rate it used. */
  losses: Record<string, number>;
  lr: number;
  /** Weights are tfjs layouts (conv HWIO, transposed conv [k, k, out, in], linear [in, out]). */
  layout: 'tfjs-nhwc';
  files: CheckpointFile[];
  created_at: string;
}

/** Everything saved besides the manifest's own fields. */
export interface CheckpointContents {
  generator: ParamSet;
  discriminator: ParamSet | null;
  /** Optimizer moments: `G.m.<param>`, `G.v.<param>`, `D.m...` */
  optimizer: [string, tf.Tensor][];
}

const sha256 = sha256Hex;

/** Tensors as a safetensors file (float32, the format of @fidlab/weights). */
async function tensorsToBuffer(entries: Iterable<[string, tf.Tensor]>): Promise<Buffer> {
  const sd: StateDict = new Map();
  for (const [name, v] of entries) {
    sd.set(name, { shape: v.shape, dtype: 'float32', data: (await v.data()) as Float32Array });
  }
  const bytes = encodeSafetensors(sd);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Writes RUN_DIR/checkpoints/epoch-NNNN atomically (checkpointFolder's writeCheckpoint: the
 * files, then the manifest with each file's sha256 and size, then one rename). Returns the
 * folder, the manifest's sha256 (which covers every file through their hashes) and the total
 * size.
 */
export async function saveCheckpoint(
  runDir: string,
  manifest: Omit<CheckpointManifest, 'files' | 'format' | 'created_at' | 'layout'>,
  contents: CheckpointContents,
): Promise<{ dir: string; sha256: string; bytes: number }> {
  const blobs: [string, Buffer][] = [
    [GENERATOR_FILE, await tensorsToBuffer(contents.generator.entries())],
  ];
  if (contents.discriminator) {
    blobs.push([DISCRIMINATOR_FILE, await tensorsToBuffer(contents.discriminator.entries())]);
  }
  blobs.push([OPTIMIZER_FILE, await tensorsToBuffer(contents.optimizer)]);
  const dir = join(checkpointsDir(runDir), epochDirName(manifest.epoch));
  let files: CheckpointFile[] = [];
  const written = await writeCheckpoint(dir, blobs, {
    name: MANIFEST_FILE,
    build(ws) {
      files = ws.map((f) => ({
        ...f,
        role: f.name === GENERATOR_FILE ? ('weights' as const) : ('state' as const),
      }));
      const full: CheckpointManifest = {
        format: CHECKPOINT_FORMAT,
        ...manifest,
        layout: 'tfjs-nhwc',
        files,
        created_at: new Date().toISOString(),
      };
      return JSON.stringify(full, null, 2) + '\n';
    },
  });
  const bytes = files.reduce((n, f) => n + f.bytes, written.manifest.length);
  return { dir, sha256: sha256(written.manifest), bytes };
}

/**
 * Removes the training state (discriminator, optimizer) of an older checkpoint, keeping its
 * generator and manifest (whose sha256 therefore stays valid); `pruned.json` lists what went.
 * At 256 px the state is two thirds of a checkpoint's 686 MB.
 */
export async function pruneTrainingState(dir: string): Promise<void> {
  const ck = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as CheckpointManifest;
  const state = ck.files.filter((f) => f.role === 'state').map((f) => f.name);
  await pruneCheckpointFiles(dir, state, PRUNED_FILE);
}

/**
 * Reads and verifies a checkpoint folder: manifest shape, every file's size and sha256 (state
 * files listed in pruned.json may be absent: then `hasState` is false).
 */
export async function readCheckpoint(dir: string): Promise<{
  manifest: CheckpointManifest;
  sha256: string;
  hasState: boolean;
  read(file: string): StateDict;
}> {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `${dir} is not a checkpoint (no ${MANIFEST_FILE}); expected RUN_DIR/checkpoints/epoch-NNNN`,
    );
  }
  const text = await readFile(path);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path} is not JSON: ${(e as Error).message}`,
    );
  }
  if (manifest.format !== CHECKPOINT_FORMAT || !Array.isArray(manifest.files)) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path}: format '${String(manifest.format)}', expected '${CHECKPOINT_FORMAT}'`,
    );
  }
  manifest.config = parseTrialConfig(manifest.config);
  const pruned = existsSync(join(dir, PRUNED_FILE))
    ? (JSON.parse(await readFile(join(dir, PRUNED_FILE), 'utf8')) as { removed: string[] }).removed
    : [];
  const blobs = new Map<string, Buffer>();
  let hasState = true;
  for (const f of manifest.files) {
    const p = join(dir, basename(f.name));
    if (!existsSync(p) && f.role === 'state' && pruned.includes(f.name)) {
      hasState = false;
      continue;
    }
    if (!existsSync(p)) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${p} is missing`);
    const buf = await readFile(p);
    if (buf.length !== f.bytes || sha256(buf) !== f.sha256) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${p} does not match its manifest (${buf.length} bytes, expected ${f.bytes}; sha256 differs or file truncated)`,
      );
    }
    blobs.set(f.name, buf);
  }
  return {
    manifest,
    sha256: sha256(text),
    hasState,
    read(file) {
      const buf = blobs.get(file);
      if (!buf) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${join(dir, file)} is missing`);
      return readSafetensors(buf, join(dir, file));
    },
  };
}

/** Copies stored tensors into a network's variables; names and shapes must match exactly. */
export function assignParams(
  set: ParamSet,
  tensors: Map<string, WeightTensor>,
  file: string,
  arch: string,
): void {
  const expected = set.shapes();
  const missing = Object.keys(expected).filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !(k in expected));
  const misShaped = Object.keys(expected).filter(
    (k) => tensors.has(k) && tensors.get(k)!.shape.join(',') !== expected[k].join(','),
  );
  if (missing.length || unexpected.length || misShaped.length) {
    const list = (what: string, xs: string[]) =>
      xs.length ? ` ${what}: ${xs.slice(0, 4).join(', ')}${xs.length > 4 ? ', ...' : ''};` : '';
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `${file} does not fit ${arch}:${list('missing', missing)}${list('unexpected', unexpected)}` +
        `${list(
          'mis-shaped',
          misShaped.map((k) => `${k} [${tensors.get(k)!.shape}] vs [${expected[k]}]`),
        )}`.replace(/;$/, ''),
    );
  }
  for (const [name, v] of set.entries()) {
    const t = tensors.get(name)!;
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, 'float32')));
  }
}

/**
 * Throws INVALID_CONFIG when a checkpoint was made by another architecture than `config` asks
 * for (model, size, ngf, ndf, GAN or not), naming both.
 */
export function checkSameArchitecture(saved: TrialConfig, config: TrialConfig, dir: string): void {
  const diff = ARCHITECTURE_FIELDS.filter((k) => {
    const a = k === 'gan_mode' ? saved[k] === 'none' : saved[k];
    const b = k === 'gan_mode' ? config[k] === 'none' : config[k];
    return a !== b && !(k === 'ndf' && saved.gan_mode === 'none' && config.gan_mode === 'none');
  });
  if (diff.length > 0) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `checkpoint ${dir} is from another architecture: ` +
        diff
          .map((k) => `${k} ${String(saved[k])} (checkpoint) vs ${String(config[k])} (this run)`)
          .join(', '),
    );
  }
}

/** Complete checkpoint folders of a run, newest first (names only; not verified). */
export async function listCheckpoints(runDir: string): Promise<{ epoch: number; dir: string }[]> {
  return listCheckpointFolders(runDir, MANIFEST_FILE);
}

/**
 * A checkpoint as a generator ready for `generate` or as a feature extractor (tap outputs).
 * Verifies every file's sha256 first.
 */
export async function loadCheckpoint(dir: string): Promise<{
  config: TrialConfig;
  generator: Generator;
  epoch: number;
  manifest: CheckpointManifest;
  sha256: string;
}> {
  const ck = await readCheckpoint(dir);
  const { manifest } = ck;
  const generator = createGenerator(manifest.model, { seed: manifest.config.seed, init: 'zeros' });
  try {
    assignParams(
      generator.params,
      ck.read(GENERATOR_FILE),
      join(dir, GENERATOR_FILE),
      describeModel(manifest.model),
    );
  } catch (e) {
    generator.dispose();
    throw e;
  }
  return { config: manifest.config, generator, epoch: manifest.epoch, manifest, sha256: ck.sha256 };
}
