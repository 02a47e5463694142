// Files of a run served over HTTP (sample images): only regular files whose real path lies inside
// the run's real directory are answered, so neither `../` nor a symlink leads out of it.
import { realpath, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { cachedFolder, type ArtifactStore } from '@fidlab/base';
import type { Store } from '@fidlab/store';

/** The URL prefix of run files: `/files/runs/<run id>/<path under the run directory>`. */
export const RUN_FILES_PATH = '/files/runs/';

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentType(path: string): string {
  const m = /\.[a-z0-9]+$/i.exec(path);
  return (m && CONTENT_TYPES[m[0].toLowerCase()]) || 'application/octet-stream';
}

/**
 * The real path of `rel` under `root` when it is a regular file inside root's real path, else
 * null (missing, a directory, `..` out of it, or a symlink whose target is outside).
 */
export async function fileUnder(root: string, rel: string): Promise<string | null> {
  if (rel.includes('\0') || isAbsolute(rel)) return null;
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(resolve(realRoot, rel));
  } catch {
    return null;
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return null;
  const st = await stat(real).catch(() => null);
  return st?.isFile() ? real : null;
}

export type SampleKind = 'input' | 'generated' | 'truth';

export interface SampleFile {
  index: number;
  kind: SampleKind;
  /** Path under the run directory, for RUN_FILES_PATH. */
  path: string;
}

export interface RunSamples {
  /** Epochs whose checkpoint has a samples/ folder. */
  epochs: number[];
  /** The epoch listed (the requested one, else the last with samples), or null. */
  epoch: number | null;
  files: SampleFile[];
}

/**
 * Where this server reads sample images kept in an artifact store (an epoch's `samples` ref: the
 * evaluator of a fetched checkpoint uploads them). `folder` gives a local, verified copy.
 */
export interface SampleSource {
  folder(ref: { uri: string; sha256?: string | null }): Promise<string>;
}

/**
 * A SampleSource over an artifact store: each samples folder fetched once into
 * `<cacheDir>/<manifest sha256>/` (every file's sha256 verified), then read from there.
 */
export function artifactSamples(store: ArtifactStore, cacheDir: string): SampleSource {
  return {
    folder(ref) {
      const sha = ref.sha256 ?? '';
      if (!/^[0-9a-f]{64}$/.test(sha))
        return Promise.reject(new Error(`samples ${ref.uri}: no sha256 recorded`));
      return cachedFolder(join(cacheDir, sha), async (tmp) => {
        await store.get({ uri: ref.uri, sha256: sha, bytes: 0 }, tmp);
      });
    },
  };
}

/** Paths of artifact-held samples: `.artifact-samples/<epoch>/<file name>` (see runFilePath). */
export const ARTIFACT_SAMPLES = '.artifact-samples';

/**
 * The local file behind a run file path: a file under the run directory, or a sample image of an
 * epoch whose samples are in an artifact store (fetched through `samples`). Null when none.
 */
export async function runFilePath(
  store: Store,
  runId: number,
  rel: string,
  samples?: SampleSource,
): Promise<string | null> {
  const m = new RegExp(`^\\${ARTIFACT_SAMPLES}/(\\d+)/([^/]+)$`).exec(rel);
  if (m && samples) {
    const e = (await store.runEpochs(runId)).find((x) => x.epoch === Number(m[1]));
    if (!e?.samples) return null;
    const dir = await samples.folder(e.samples).catch(() => null);
    return dir && SAMPLE.test(m[2]) ? fileUnder(dir, m[2]) : null;
  }
  const run = await store.getRun(runId);
  return run?.runDir ? fileUnder(run.runDir, rel) : null;
}

/** `sample-007.png` is generated; `sample-007-input.png` / `sample-007-truth.png` its pair. */
const SAMPLE = /^sample-(\d+)(?:-(input|truth))?\.(png|jpe?g)$/;

/**
 * The sample images of an epoch of a run, as paths for RUN_FILES_PATH: under the run directory
 * (`<checkpoint>/samples/`), or, for epochs whose samples are in an artifact store and when this
 * server reads one (`samples`), under ARTIFACT_SAMPLES.
 */
export async function runSamples(
  store: Store,
  runId: number,
  epoch: number | undefined,
  samples?: SampleSource,
): Promise<RunSamples> {
  const run = await store.getRun(runId);
  const none: RunSamples = { epochs: [], epoch: null, files: [] };
  if (!run) return none;
  const root = run.runDir ? resolve(run.runDir) : null;
  const withSamples: {
    epoch: number;
    dir?: string;
    ref?: { uri: string; sha256?: string | null };
  }[] = [];
  for (const e of await store.runEpochs(runId)) {
    if (e.samples && samples) {
      withSamples.push({ epoch: e.epoch, ref: e.samples });
      continue;
    }
    if (!e.checkpoint || !root) continue;
    const dir = join(resolve(e.checkpoint.uri), 'samples');
    const rel = relative(root, dir);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    if ((await stat(dir).catch(() => null))?.isDirectory())
      withSamples.push({ epoch: e.epoch, dir: rel });
  }
  if (withSamples.length === 0) return none;
  const pick =
    epoch === undefined
      ? withSamples[withSamples.length - 1]
      : withSamples.find((s) => s.epoch === epoch);
  const epochs = withSamples.map((s) => s.epoch);
  if (!pick) return { epochs, epoch: null, files: [] };
  const files: SampleFile[] = [];
  // Artifact samples: listed from the fetched copy (none when it cannot be fetched or verified).
  const local = pick.ref ? await samples!.folder(pick.ref).catch(() => null) : null;
  const listed = pick.ref ? local : join(root!, pick.dir!);
  for (const name of listed ? (await readdir(listed)).sort() : []) {
    const m = SAMPLE.exec(name);
    const path = pick.ref
      ? `${ARTIFACT_SAMPLES}/${pick.epoch}/${name}`
      : `${pick.dir}/${name}`.split(sep).join('/');
    // Only what GET /files/runs/... would serve (no links out of the run directory).
    const served = pick.ref ? fileUnder(listed!, name) : fileUnder(root!, join(pick.dir!, name));
    if (!m || !(await served)) continue;
    const kind: SampleKind = m[2] === 'input' ? 'input' : m[2] === 'truth' ? 'truth' : 'generated';
    files.push({ index: Number(m[1]), kind, path });
  }
  return { epochs, epoch: pick.epoch, files };
}
