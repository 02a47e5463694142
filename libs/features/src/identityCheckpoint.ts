// Checkpoints of the identity trial: `epoch-NNNN/identity.json` (what the network is, the
// classes, the epoch's metrics, a tensor index, sha256 of the weights) + `weights.bin` (every
// tensor as float32 little-endian, in index order). Written into a temporary sibling folder and
// renamed into place, so a reader never sees a half-written checkpoint.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';

export const IDENTITY_CHECKPOINT_FORMAT = 'fidlab-identity/1';
export const IDENTITY_MANIFEST = 'identity.json';
export const IDENTITY_WEIGHTS = 'weights.bin';

const manifestSchema = z.object({
  format: z.literal(IDENTITY_CHECKPOINT_FORMAT),
  body: z.object({ kind: z.enum(['facerec', 'vggface']), inputSize: z.number().int().positive() }),
  featureLayer: z.string(),
  classes: z.array(z.string()),
  epoch: z.number().int().nonnegative(),
  metrics: z.record(z.string(), z.number()),
  tensors: z.array(z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()) })),
  sha256: z.string(),
  bytes: z.number().int().nonnegative(),
});
export type IdentityCheckpointManifest = z.infer<typeof manifestSchema>;

export function epochDirName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/** Writes one checkpoint atomically; returns its directory, sha256 and size. */
export async function saveIdentityCheckpoint(
  dir: string,
  meta: Omit<IdentityCheckpointManifest, 'format' | 'tensors' | 'sha256' | 'bytes'>,
  tensors: Map<string, tf.Tensor>,
): Promise<{ dir: string; sha256: string; bytes: number }> {
  const index: IdentityCheckpointManifest['tensors'] = [];
  const chunks: Buffer[] = [];
  for (const [name, t] of tensors) {
    const data = (await t.data()) as Float32Array;
    index.push({ name, shape: t.shape });
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  const weights = Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(weights).digest('hex');
  const manifest: IdentityCheckpointManifest = {
    format: IDENTITY_CHECKPOINT_FORMAT,
    ...meta,
    tensors: index,
    sha256,
    bytes: weights.length,
  };
  const tmp = `${dir}.partial-${process.pid}-${Date.now()}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, IDENTITY_WEIGHTS), weights);
  await writeFile(path.join(tmp, IDENTITY_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return { dir, sha256, bytes: weights.length };
}

/** Reads a checkpoint and checks the weights' size and sha256 against its manifest. */
export async function loadIdentityCheckpoint(
  dir: string,
): Promise<{ manifest: IdentityCheckpointManifest; tensors: Map<string, tf.Tensor> }> {
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
  const manifest = parsed.data;
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
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== manifest.sha256) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${weightsPath}: sha256 ${sha} differs from the manifest's ${manifest.sha256} (corrupt or replaced)`,
    );
  }
  const all = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
  );
  const tensors = new Map<string, tf.Tensor>();
  let offset = 0;
  for (const { name, shape } of manifest.tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (offset + size > all.length) {
      throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${weightsPath}: too short for '${name}'`);
    }
    tensors.set(name, tf.tensor(all.subarray(offset, offset + size), shape, 'float32'));
    offset += size;
  }
  return { manifest, tensors };
}
