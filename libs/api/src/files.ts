// Files of a run served over HTTP (sample images): only regular files whose real path lies inside
// the run's real directory are answered, so neither `../` nor a symlink leads out of it.
import { realpath, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
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

/** `sample-007.png` is generated; `sample-007-input.png` / `sample-007-truth.png` its pair. */
const SAMPLE = /^sample-(\d+)(?:-(input|truth))?\.(png|jpe?g)$/;

/** The sample images of an epoch of a run, as paths under the run directory. */
export async function runSamples(
  store: Store,
  runId: number,
  epoch: number | undefined,
): Promise<RunSamples> {
  const run = await store.getRun(runId);
  const none: RunSamples = { epochs: [], epoch: null, files: [] };
  if (!run?.runDir) return none;
  const root = resolve(run.runDir);
  const withSamples: { epoch: number; dir: string }[] = [];
  for (const e of await store.runEpochs(runId)) {
    if (!e.checkpoint) continue;
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
  for (const name of (await readdir(join(root, pick.dir))).sort()) {
    const m = SAMPLE.exec(name);
    // Only what GET /files/runs/... would serve (no links out of the run directory).
    if (!m || !(await fileUnder(root, join(pick.dir, name)))) continue;
    const kind: SampleKind = m[2] === 'input' ? 'input' : m[2] === 'truth' ? 'truth' : 'generated';
    files.push({ index: Number(m[1]), kind, path: `${pick.dir}/${name}`.split(sep).join('/') });
  }
  return { epochs, epoch: pick.epoch, files };
}
