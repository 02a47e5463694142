// Reads a tfjs weights manifest (`*-weights_manifest.json` + its `.bin` shards) into float32
// arrays, with fidlab's own code: face-api ships its face-recognition weights in this format,
// most of them affine-quantised to uint8.
import { readFile, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';

const quantizationSchema = z.object({
  dtype: z.enum(['uint8', 'uint16', 'float16']),
  scale: z.number().optional(),
  min: z.number().optional(),
});

const weightSpecSchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(['float32', 'int32']),
  quantization: quantizationSchema.optional(),
});

const manifestSchema = z.array(
  z.object({ paths: z.array(z.string()).min(1), weights: z.array(weightSpecSchema) }),
);

export interface ManifestTensor {
  shape: number[];
  data: Float32Array;
}

/** The face-api package's face-recognition manifest (resolved from node_modules). */
export function defaultFacerecManifest(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@vladmandic/face-api/package.json');
  return path.join(path.dirname(pkg), 'model', 'face_recognition_model-weights_manifest.json');
}

/**
 * Loads every tensor a tfjs weights manifest lists. The shards of one group are concatenated and
 * read in manifest order, each tensor taking `prod(shape) * bytes(dtype)` bytes, as
 * tf.io.decodeWeights does. Quantised tensors are dequantised as tfjs does:
 * uint8/uint16: `value = q * scale + min`; float16: IEEE half -> float32.
 * `file` may be the manifest itself or a directory holding exactly one `*weights_manifest.json`.
 */
export async function loadWeightsManifest(file: string): Promise<Map<string, ManifestTensor>> {
  const manifestPath = await resolveManifest(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (err) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${manifestPath}: not a JSON weights manifest (${(err as Error).message})`,
      { cause: err },
    );
  }
  const manifest = manifestSchema.safeParse(parsed);
  if (!manifest.success) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${manifestPath}: not a tfjs weights manifest: ${manifest.error.issues[0]?.message ?? ''} at ${manifest.error.issues[0]?.path.join('.') ?? ''}`,
    );
  }
  const out = new Map<string, ManifestTensor>();
  const dir = path.dirname(manifestPath);
  for (const group of manifest.data) {
    const shards: Buffer[] = [];
    for (const p of group.paths) {
      const shardPath = path.join(dir, p);
      try {
        shards.push(await readFile(shardPath));
      } catch (err) {
        throw new FidlabError(
          ErrorCode.FILE_NOT_FOUND,
          `${shardPath}: weight shard listed in ${manifestPath} cannot be read`,
          { cause: err },
        );
      }
    }
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const q = spec.quantization;
      const itemBytes = q ? (q.dtype === 'uint8' ? 1 : 2) : 4;
      const end = offset + size * itemBytes;
      if (end > bytes.length) {
        throw new FidlabError(
          ErrorCode.BAD_FILE_FORMAT,
          `${manifestPath}: shards hold ${bytes.length} bytes but '${spec.name}' needs bytes ${offset}..${end}`,
        );
      }
      out.set(spec.name, { shape: spec.shape, data: decode(bytes, offset, size, spec) });
      offset = end;
    }
    if (offset !== bytes.length) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${manifestPath}: shards hold ${bytes.length} bytes, the manifest describes ${offset}`,
      );
    }
  }
  return out;
}

/** The manifest and its shards, in manifest order (the files whose bytes are the weights). */
export async function weightsManifestFiles(file: string): Promise<string[]> {
  const manifestPath = await resolveManifest(file);
  const parsed = manifestSchema.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
  const dir = path.dirname(manifestPath);
  const shards = parsed.success
    ? parsed.data.flatMap((g) => g.paths.map((p) => path.join(dir, p)))
    : [];
  return [manifestPath, ...shards];
}

function decode(
  bytes: Buffer,
  offset: number,
  size: number,
  spec: z.infer<typeof weightSpecSchema>,
): Float32Array {
  const out = new Float32Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, bytes.length - offset);
  const q = spec.quantization;
  if (!q) {
    for (let i = 0; i < size; i++) {
      out[i] = spec.dtype === 'int32' ? view.getInt32(i * 4, true) : view.getFloat32(i * 4, true);
    }
    return out;
  }
  if (q.dtype === 'float16') {
    for (let i = 0; i < size; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
    return out;
  }
  if (q.scale === undefined || q.min === undefined) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `weights manifest: '${spec.name}' is ${q.dtype}-quantised without scale/min`,
    );
  }
  const { scale, min } = q;
  for (let i = 0; i < size; i++) {
    const v = q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(i * 2, true);
    out[i] = v * scale + min;
  }
  return out;
}

/** IEEE 754 binary16 -> number (subnormals, infinities and NaN included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

async function resolveManifest(file: string): Promise<string> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${file}: weights manifest not found`, {
      cause: err,
    });
  }
  if (!st.isDirectory()) return file;
  const names = (await readdir(file)).filter((n) => n.endsWith('weights_manifest.json'));
  const recog = names.filter((n) => n.startsWith('face_recognition'));
  const pick = recog.length === 1 ? recog : names;
  if (pick.length !== 1) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `${file}: expected one *weights_manifest.json in this directory, found ${names.length}`,
    );
  }
  return path.join(file, pick[0]);
}
