// Checkpoints of the identity trial: `epoch-NNNN/identity.json` (what the network is, the
// classes, the epoch's metrics, a tensor index, sha256 of the weights) + `weights.bin` (every
// tensor as float32 little-endian, in index order) + `optimizer.bin` (the optimizers' state, for
// resuming; removed from a checkpoint once a newer one is complete). Written, listed and pruned
// by the checkpoint folder code generator trials use too (../checkpointFolder.ts), so a reader
// never sees a half-written checkpoint.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  epochDirName,
  listCheckpointFolders,
  pruneCheckpointFiles,
  sha256Hex,
  writeCheckpoint,
} from '../checkpointFolder.js';

export const IDENTITY_CHECKPOINT_FORMAT = 'fidlab-identity/1';
export const IDENTITY_MANIFEST = 'identity.json';
export const IDENTITY_WEIGHTS = 'weights.bin';
export const IDENTITY_OPTIMIZER = 'optimizer.bin';

const tensorIndex = z.array(
  z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()) }),
);

/** One tfjs optimizer's state: its step count and slot tensors (in `getWeights` order). */
const optimizerStateSchema = z.object({
  iterations: z.number().int().nonnegative(),
  tensors: tensorIndex,
  /** Adam's running beta1^t, beta2^t (tfjs would recompute them by pow: not bit-exact). */
  accBeta: z.tuple([z.number(), z.number()]).optional(),
});

const optimizerSchema = z.object({
  kind: z.enum(['sgd', 'momentum', 'adam']),
  /** Body optimizer (null when the whole body is frozen), then the classifier's. */
  body: optimizerStateSchema.nullable(),
  head: optimizerStateSchema,
  sha256: z.string(),
  bytes: z.number().int().nonnegative(),
});

const manifestSchema = z.object({
  format: z.literal(IDENTITY_CHECKPOINT_FORMAT),
  body: z.object({ kind: z.enum(['facerec', 'vggface']), inputSize: z.number().int().positive() }),
  featureLayer: z.string(),
  classes: z.array(z.string()),
  epoch: z.number().int().nonnegative(),
  metrics: z.record(z.string(), z.number()),
  tensors: tensorIndex,
  sha256: z.string(),
  bytes: z.number().int().nonnegative(),
  /** Absent in checkpoints written before the trial could resume. */
  optimizer: optimizerSchema.optional(),
});
export type IdentityCheckpointManifest = z.infer<typeof manifestSchema>;

/** What `saveIdentityCheckpoint` stores of one optimizer; tensors are read, not disposed. */
export interface IdentityOptimizerState {
  iterations: number;
  tensors: { name: string; tensor: tf.Tensor }[];
  accBeta?: [number, number];
}

export interface IdentityTrainingState {
  kind: 'sgd' | 'momentum' | 'adam';
  body: IdentityOptimizerState | null;
  head: IdentityOptimizerState;
}

export { epochDirName };

/** float32 little-endian bytes of tensors, in order, and their index. */
async function packTensors(
  entries: Iterable<[string, tf.Tensor]>,
): Promise<{ bytes: Buffer; index: z.infer<typeof tensorIndex> }> {
  const index: z.infer<typeof tensorIndex> = [];
  const chunks: Buffer[] = [];
  for (const [name, t] of entries) {
    const data = (await t.data()) as Float32Array;
    index.push({ name, shape: t.shape });
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  return { bytes: Buffer.concat(chunks), index };
}

const sha256Of = sha256Hex;

/**
 * Writes one checkpoint atomically; returns its directory, sha256 and size (of the weights: the
 * optimizer state is for resuming only and goes when a newer checkpoint is complete).
 */
export async function saveIdentityCheckpoint(
  dir: string,
  meta: Omit<IdentityCheckpointManifest, 'format' | 'tensors' | 'sha256' | 'bytes' | 'optimizer'>,
  tensors: Map<string, tf.Tensor>,
  state?: IdentityTrainingState,
): Promise<{ dir: string; sha256: string; bytes: number }> {
  const { bytes: weights, index } = await packTensors(tensors);
  const sha256 = sha256Of(weights);
  let optimizer: IdentityCheckpointManifest['optimizer'];
  let optimizerBytes: Buffer | null = null;
  if (state) {
    const parts = [state.body, state.head].filter((x): x is IdentityOptimizerState => x !== null);
    const packed = await packTensors(
      parts.flatMap((p) => p.tensors.map((t) => [t.name, t.tensor] as [string, tf.Tensor])),
    );
    optimizerBytes = packed.bytes;
    let at = 0;
    const describe = (p: IdentityOptimizerState) => {
      const tensors = packed.index.slice(at, at + p.tensors.length);
      at += p.tensors.length;
      return { iterations: p.iterations, tensors, ...(p.accBeta ? { accBeta: p.accBeta } : {}) };
    };
    const body = state.body ? describe(state.body) : null;
    optimizer = {
      kind: state.kind,
      body,
      head: describe(state.head),
      sha256: sha256Of(packed.bytes),
      bytes: packed.bytes.length,
    };
  }
  const manifest: IdentityCheckpointManifest = {
    format: IDENTITY_CHECKPOINT_FORMAT,
    ...meta,
    tensors: index,
    sha256,
    bytes: weights.length,
    ...(optimizer ? { optimizer } : {}),
  };
  const files: [string, Buffer][] = [[IDENTITY_WEIGHTS, weights]];
  if (optimizerBytes) files.push([IDENTITY_OPTIMIZER, optimizerBytes]);
  await writeCheckpoint(dir, files, {
    name: IDENTITY_MANIFEST,
    build: () => JSON.stringify(manifest, null, 2) + '\n',
  });
  return { dir, sha256, bytes: weights.length };
}

/** Complete checkpoint folders under RUN/checkpoints, newest first (not verified). */
export async function listIdentityCheckpoints(
  out: string,
): Promise<{ epoch: number; dir: string }[]> {
  return listCheckpointFolders(out, IDENTITY_MANIFEST);
}

/**
 * The optimizer state saved with a checkpoint (size and sha256 checked), or null when it has
 * none: written before the trial could resume, or removed once a newer checkpoint was complete.
 */
export async function loadIdentityTrainingState(
  dir: string,
  manifest: IdentityCheckpointManifest,
): Promise<IdentityTrainingState | null> {
  const o = manifest.optimizer;
  const file = path.join(dir, IDENTITY_OPTIMIZER);
  if (!o || !existsSync(file)) return null;
  const bytes = await readFile(file);
  if (bytes.length !== o.bytes || sha256Of(bytes) !== o.sha256) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${file}: ${bytes.length} bytes, sha256 or size differs from the manifest's (corrupt or replaced)`,
    );
  }
  const all = unpackTensors(bytes, [...(o.body?.tensors ?? []), ...o.head.tensors], file);
  const take = (s: z.infer<typeof optimizerStateSchema>): IdentityOptimizerState => ({
    iterations: s.iterations,
    tensors: all.splice(0, s.tensors.length),
    ...(s.accBeta ? { accBeta: s.accBeta } : {}),
  });
  const body = o.body ? take(o.body) : null;
  return { kind: o.kind, body, head: take(o.head) };
}

/** Removes a checkpoint's optimizer state (kept only in the newest checkpoint). */
export async function pruneIdentityTrainingState(dir: string): Promise<void> {
  await pruneCheckpointFiles(dir, [IDENTITY_OPTIMIZER]);
}

function unpackTensors(
  bytes: Buffer,
  index: z.infer<typeof tensorIndex>,
  file: string,
): { name: string; tensor: tf.Tensor }[] {
  const all = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  );
  const out: { name: string; tensor: tf.Tensor }[] = [];
  let offset = 0;
  for (const { name, shape } of index) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (offset + size > all.length) {
      throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: too short for '${name}'`);
    }
    out.push({ name, tensor: tf.tensor(all.subarray(offset, offset + size), shape, 'float32') });
    offset += size;
  }
  return out;
}

/** A checkpoint's identity.json, parsed (files not read or verified). */
export async function readIdentityManifest(dir: string): Promise<IdentityCheckpointManifest> {
  const manifestPath = path.join(dir, IDENTITY_MANIFEST);
  let raw: string;
  try {
    raw = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `${manifestPath}: not found (an identity checkpoint is a folder such as RUN/checkpoints/epoch-0003 written by the identity trial)`,
      { cause: err },
    );
  }
  let parsed;
  try {
    parsed = manifestSchema.safeParse(JSON.parse(raw));
  } catch (err) {
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${manifestPath}: not JSON`, { cause: err });
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${manifestPath}: not an identity checkpoint manifest (${issue.path.join('.')}: ${issue.message})`,
    );
  }
  return parsed.data;
}

/** Reads a checkpoint and checks the weights' size and sha256 against its manifest. */
export async function loadIdentityCheckpoint(
  dir: string,
): Promise<{ manifest: IdentityCheckpointManifest; tensors: Map<string, tf.Tensor> }> {
  const manifest = await readIdentityManifest(dir);
  const weightsPath = path.join(dir, IDENTITY_WEIGHTS);
  const bytes = await readFile(weightsPath).catch((err) => {
    throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${weightsPath}: not found`, { cause: err });
  });
  if (bytes.length !== manifest.bytes) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${weightsPath}: ${bytes.length} bytes, the manifest says ${manifest.bytes}`,
    );
  }
  const sha = sha256Of(bytes);
  if (sha !== manifest.sha256) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${weightsPath}: sha256 ${sha} differs from the manifest's ${manifest.sha256} (corrupt or replaced)`,
    );
  }
  const tensors = new Map(
    unpackTensors(bytes, manifest.tensors, weightsPath).map((t) => [t.name, t.tensor]),
  );
  return { manifest, tensors };
}
