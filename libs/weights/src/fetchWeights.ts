import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { atomicWrite, atomicWriteWith, ErrorCode, FidlabError } from '@fidlab/base';
import { sha256Memo, weightsCacheDir } from './cache.js';

/** A published weight file fidlab knows how to fetch and verify. */
export interface WeightsSource {
  /** The name used by `fidlab weights fetch NAME` and resolveWeights. */
  name: string;
  /** File name inside the weights cache. */
  file: string;
  url: string;
  /** Full sha256 (lower-case hex) when known. */
  sha256?: string;
  /** First hex digits of the sha256 embedded in the file name (torch.hub convention). */
  sha256Prefix?: string;
  description: string;
}

export const WEIGHTS_SOURCES = {
  inception: {
    name: 'inception',
    file: 'pt_inception-2015-12-05-6726825d.pth',
    url: 'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth',
    // The same file torch-fidelity ships as weights-inception-2015-12-05-6726825d.pth; its full
    // hash as recorded by a third party, consistent with the 8-hex prefix in the file name.
    sha256: '6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2',
    sha256Prefix: '6726825d',
    description: "pytorch-fid's FID InceptionV3 (TF 2015-12-05 graph ported to PyTorch), ~91 MiB",
  },
  vggface: {
    name: 'vggface',
    file: 'vgg_face_dag.pth',
    url: 'https://www.robots.ox.ac.uk/~albanie/models/pytorch-mcn/vgg_face_dag.pth',
    // No published hash: the first download's sha256 is recorded in the cache and checked on
    // every later use (trust on first use); compare it with a trusted copy if it matters.
    description: 'VGG-Face (Parkhi et al. 2015), pytorch-mcn conversion, ~553 MiB',
  },
} as const satisfies Record<string, WeightsSource>;

export type KnownWeights = keyof typeof WEIGHTS_SOURCES;

export function knownWeights(): string[] {
  return Object.keys(WEIGHTS_SOURCES);
}

function source(nameOrSource: string | WeightsSource): WeightsSource {
  if (typeof nameOrSource !== 'string') return nameOrSource;
  const s = (WEIGHTS_SOURCES as Record<string, WeightsSource>)[nameOrSource];
  if (!s) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `unknown weights '${nameOrSource}' (known: ${knownWeights().join(', ')})`,
    );
  }
  return s;
}

/** Where a known weight file lives in the cache. */
export function weightsPath(nameOrSource: string | WeightsSource, dir = weightsCacheDir()): string {
  return join(dir, source(nameOrSource).file);
}

/**
 * Null when `sha256` matches what is published for the source (or, lacking that, the hash
 * recorded at the first download), else why not.
 */
export function sha256Problem(
  sha256: string,
  src: WeightsSource,
  recorded?: string,
): string | null {
  if (src.sha256 && sha256 !== src.sha256) return `sha256 ${sha256}, expected ${src.sha256}`;
  if (!src.sha256 && recorded && sha256 !== recorded) {
    return `sha256 ${sha256}, but ${recorded} was recorded when it was first fetched`;
  }
  if (src.sha256Prefix && !sha256.startsWith(src.sha256Prefix)) {
    return `sha256 ${sha256} does not start with ${src.sha256Prefix} (the hash in its name)`;
  }
  return null;
}

/** The end of the one-line message for weights that are neither present nor downloadable. */
function manualHint(src: WeightsSource, target: string, withUrl = true): string {
  return (
    `download ${withUrl ? src.url : 'it'} by hand and save it as ${target} ` +
    `(or set FIDLAB_WEIGHTS to the folder holding ${src.file}, or pass --weights PATH)`
  );
}

/** Checks a file in the cache against its published hash (hash remembered per size+mtime). */
export async function verifyWeightsFile(
  nameOrSource: string | WeightsSource,
  path: string,
  cacheDir = weightsCacheDir(),
): Promise<string> {
  const src = source(nameOrSource);
  const sha = await sha256Memo(path, cacheDir);
  const recorded = src.sha256 ? undefined : await readRecordedSha(path);
  if (!src.sha256 && !recorded) await recordSha(path, sha); // trust on first use
  const problem = sha256Problem(sha, src, recorded);
  if (problem) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path}: ${problem} (corrupt or partial download?); delete it and run 'fidlab weights fetch ${src.name}'`,
    );
  }
  return sha;
}

/** `<file>.sha256` (sha256sum format): the hash of a file without a published one. */
async function readRecordedSha(path: string): Promise<string | undefined> {
  try {
    const m = /^([0-9a-f]{64})\b/.exec(await readFile(`${path}.sha256`, 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

async function recordSha(path: string, sha256: string): Promise<void> {
  await atomicWrite(`${path}.sha256`, `${sha256}  ${basename(path)}\n`);
}

export interface FetchOptions {
  /** Cache folder (default weightsCacheDir()). */
  dir?: string;
  /** Download again even when a verified file is present. */
  force?: boolean;
  /** Called as bytes arrive; total is undefined when the server does not say. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Abort when no byte arrives for this long (default 30 s). */
  idleTimeoutMs?: number;
}

export interface FetchResult {
  path: string;
  sha256: string;
  bytes: number;
  /** False when a verified file was already in the cache. */
  downloaded: boolean;
}

/**
 * Downloads a known weight file into the cache: streamed to a temporary file while hashing,
 * verified against the published sha256, then renamed into place (a failed or interrupted
 * download never leaves a file under the final name). Offline, it fails with one line naming
 * the file, the URL and where to put a manual download.
 */
export async function fetchWeights(
  nameOrSource: string | WeightsSource,
  opts: FetchOptions = {},
): Promise<FetchResult> {
  const src = source(nameOrSource);
  const dir = opts.dir ?? weightsCacheDir();
  const target = join(dir, src.file);
  if (!opts.force && existsSync(target)) {
    const sha256 = await verifyWeightsFile(src, target, dir);
    return { path: target, sha256, bytes: (await stat(target)).size, downloaded: false };
  }
  await mkdir(dir, { recursive: true });
  const idle = opts.idleTimeoutMs ?? 30_000;
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(), idle);
  const poke = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), idle);
  };
  const offline = (reason: string): FidlabError =>
    new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `cannot download ${src.file} from ${src.url} (${reason}); ${manualHint(src, target, false)}`,
    );
  const hash = createHash('sha256');
  let received = 0;
  try {
    let res: Response;
    try {
      res = await fetch(src.url, { redirect: 'follow', signal: abort.signal });
    } catch (e) {
      throw offline(networkReason(e, abort.signal.aborted, idle));
    }
    if (!res.ok || !res.body) throw offline(`HTTP ${res.status} ${res.statusText}`.trim());
    const header = Number(res.headers.get('content-length'));
    const total = Number.isFinite(header) && header > 0 ? header : undefined;
    const body = res.body;
    // Streamed into a temporary sibling, verified, then renamed into place by atomicWriteWith
    // (which removes the temporary when anything here throws).
    const { sha256, recorded } = await atomicWriteWith(target, async (tmp) => {
      const fh = await open(tmp, 'w');
      try {
        opts.onProgress?.(0, total);
        // fetch's body is an async iterable in Node (typed as a DOM ReadableStream where DOM types
        // are in scope, as in the dashboard's typecheck of the API it calls).
        for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
          poke();
          const b = chunk as Uint8Array;
          hash.update(b);
          await fh.write(b);
          received += b.length;
          opts.onProgress?.(received, total);
        }
      } catch (e) {
        if (e instanceof FidlabError) throw e;
        throw offline(
          `interrupted after ${received} bytes: ${networkReason(e, abort.signal.aborted, idle)}`,
        );
      } finally {
        await fh.close();
      }
      if (total !== undefined && received !== total) {
        throw offline(`got ${received} of ${total} bytes`);
      }
      const sha256 = hash.digest('hex');
      const recorded = src.sha256 ? undefined : await readRecordedSha(target);
      const problem = sha256Problem(sha256, src, recorded);
      if (problem) {
        throw new FidlabError(
          ErrorCode.BAD_FILE_FORMAT,
          `downloaded ${src.file} from ${src.url} but its ${problem}; not saved`,
        );
      }
      return { sha256, recorded };
    });
    if (!src.sha256 && !recorded) await recordSha(target, sha256);
    await sha256Memo(target, dir, sha256); // later uses verify without re-reading the file
    return { path: target, sha256, bytes: received, downloaded: true };
  } finally {
    clearTimeout(timer);
  }
}

function networkReason(e: unknown, aborted: boolean, idleMs: number): string {
  if (aborted) return `no data for ${Math.round(idleMs / 1000)} s`;
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
}

export interface ResolveOptions extends FetchOptions {
  /** Download into the cache when the file is missing (default false: fail with a hint). */
  download?: boolean;
}

/**
 * The weight file to load for a known network: `explicitPath` when given (any file: not
 * hash-checked, so random-init or fine-tuned weights work), else the verified cache file,
 * else (with `download`) a fresh download; otherwise FILE_NOT_FOUND saying how to get it.
 */
export async function resolveWeights(
  nameOrSource: string | WeightsSource,
  explicitPath?: string,
  opts: ResolveOptions = {},
): Promise<string> {
  const src = source(nameOrSource);
  if (explicitPath !== undefined) {
    const p = resolve(explicitPath);
    if (!existsSync(p)) {
      throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${src.name} weights not found: ${p}`);
    }
    return p;
  }
  const dir = opts.dir ?? weightsCacheDir();
  const target = join(dir, src.file);
  if (existsSync(target)) {
    await verifyWeightsFile(src, target, dir);
    return target;
  }
  if (opts.download) return (await fetchWeights(src, opts)).path;
  throw new FidlabError(
    ErrorCode.FILE_NOT_FOUND,
    `${src.name} weights not found at ${target}; run 'fidlab weights fetch ${src.name}' or ${manualHint(src, target)}`,
  );
}
