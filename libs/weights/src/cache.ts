import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { atomicWrite } from '@fidlab/base';
import { loadStateDict } from './loadStateDict.js';
import { readSafetensorsMetadata, saveSafetensors } from './safetensors.js';
import type { StateDict } from './types.js';

/** Where fidlab keeps downloaded and converted weights: FIDLAB_WEIGHTS or ~/.cache/fidlab/weights. */
export function weightsCacheDir(): string {
  const env = process.env.FIDLAB_WEIGHTS;
  return env && env.trim() !== '' ? resolve(env) : join(homedir(), '.cache', 'fidlab', 'weights');
}

/** sha256 of a file, streamed (weight files are hundreds of MB). Lower-case hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) {
    h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

/**
 * sha256File remembered per (path, size, mtime) in `<cache>/hashes.json`, so that loading a
 * 550 MB file through the conversion cache does not hash it on every run.
 */
export async function sha256Memo(
  path: string,
  cacheDir = weightsCacheDir(),
  /** The hash when the caller just computed it (a download): recorded without re-reading. */
  known?: string,
): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const memoFile = join(cacheDir, 'hashes.json');
  let memo: Record<string, { stamp: string; sha256: string }> = {};
  try {
    memo = JSON.parse(await readFile(memoFile, 'utf8')) as typeof memo;
  } catch {
    // Missing or unreadable memo: start afresh.
  }
  if (!known && memo[abs]?.stamp === stamp) return memo[abs].sha256;
  const sha256 = known ?? (await sha256File(abs));
  memo[abs] = { stamp, sha256 };
  // Forget files that are gone (tests hash many temporary weight files).
  for (const p of Object.keys(memo)) if (!existsSync(p)) delete memo[p];
  try {
    await mkdir(cacheDir, { recursive: true });
    await atomicWrite(memoFile, JSON.stringify(memo, null, 1));
  } catch {
    // A read-only cache only costs a re-hash next time.
  }
  return sha256;
}

/**
 * Converts a weight file once and keeps the result: `convert(loadStateDict(source))` is saved
 * as `<cache>/converted/<tag>-<sha256 of source, 16 hex>.safetensors` and later calls read that
 * instead. `tag` names the conversion and must change when `convert` changes
 * (e.g. 'inception-tfjs-v1'). A damaged cache file is converted again.
 */
export async function cachedConversion(
  sourcePath: string,
  tag: string,
  convert: (sd: StateDict) => StateDict | Promise<StateDict>,
  opts: { cacheDir?: string; log?: (line: string) => void } = {},
): Promise<StateDict> {
  if (!/^[A-Za-z0-9._-]+$/.test(tag))
    throw new Error(`conversion tag '${tag}' must be [A-Za-z0-9._-]+`);
  const cacheDir = opts.cacheDir ?? weightsCacheDir();
  const sha = await sha256Memo(sourcePath, cacheDir);
  const dir = join(cacheDir, 'converted');
  const target = join(dir, `${tag}-${sha.slice(0, 16)}.safetensors`);
  try {
    const meta = await readSafetensorsMetadata(target);
    if (meta['fidlab.source_sha256'] === sha && meta['fidlab.tag'] === tag) {
      return await loadStateDict(target);
    }
  } catch {
    // Not converted yet, or unreadable: convert below.
  }
  const converted = await convert(await loadStateDict(sourcePath));
  try {
    await mkdir(dir, { recursive: true });
    await saveSafetensors(target, converted, {
      'fidlab.source': basename(sourcePath),
      'fidlab.source_sha256': sha,
      'fidlab.tag': tag,
    });
    opts.log?.(`cached converted weights: ${target}`);
  } catch (e) {
    opts.log?.(`could not cache converted weights at ${target}: ${(e as Error).message}`);
  }
  return converted;
}
