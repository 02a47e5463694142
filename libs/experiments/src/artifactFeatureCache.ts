// The FeatureCache port over an artifact store (a shared folder or a NATS Object Store bucket):
// ground-truth features as float64 `.npy` under `features/<sha256 of the key>.npy`, beside an
// entry `features/<same>.json` holding the full key and the artifact's ref (sha256, size). A get
// compares the whole key (not only its hash) and verifies the sha256 of the features it reads.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeNpy,
  ErrorCode,
  isFidlabError,
  parseNpy,
  type ArtifactRef,
  type ArtifactStore,
} from '@fidlab/base';
import type { FeatureCache, FeatureCacheKey, FeatureMatrix } from './ports.js';

interface Entry {
  key: FeatureCacheKey;
  ref: ArtifactRef;
}

/** The key's components in a fixed order: the text both hashed and compared. */
function canonicalKey(k: FeatureCacheKey): string {
  return JSON.stringify([k.data, k.split, k.extractor, k.weightsSha256, k.protocol]);
}

export class ArtifactFeatureCache implements FeatureCache {
  /** `scratch`: a local folder for the files in transit (default the OS temp folder). */
  constructor(
    private readonly store: ArtifactStore,
    private readonly scratch: string = tmpdir(),
  ) {}

  private static name(key: FeatureCacheKey): string {
    return `features/${createHash('sha256').update(canonicalKey(key)).digest('hex')}`;
  }

  private async inScratch<T>(f: (dir: string) => Promise<T>): Promise<T> {
    const dir = join(this.scratch, `fidlab-features-${randomUUID()}`);
    await mkdir(dir, { recursive: true });
    try {
      return await f(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async get(key: FeatureCacheKey): Promise<FeatureMatrix | null> {
    const name = ArtifactFeatureCache.name(key);
    return this.inScratch(async (dir) => {
      try {
        await this.store.backend.read(`${name}.json`, join(dir, 'entry.json'));
      } catch (err) {
        if (isFidlabError(err) && err.code === ErrorCode.NOT_FOUND) return null;
        throw err;
      }
      const entry = JSON.parse(await readFile(join(dir, 'entry.json'), 'utf8')) as Entry;
      if (canonicalKey(entry.key) !== canonicalKey(key)) return null;
      await this.store.get(entry.ref, join(dir, 'features.npy')); // sha256 verified
      const arr = parseNpy(await readFile(join(dir, 'features.npy')), entry.ref.uri);
      return { rows: arr.shape[0], cols: arr.shape[1], data: arr.data };
    });
  }

  async put(key: FeatureCacheKey, features: FeatureMatrix): Promise<void> {
    const name = ArtifactFeatureCache.name(key);
    await this.inScratch(async (dir) => {
      const npy = join(dir, 'features.npy');
      await writeFile(
        npy,
        encodeNpy({ shape: [features.rows, features.cols], data: features.data }),
      );
      const ref = await this.store.putFile(`${name}.npy`, npy);
      const entry: Entry = { key, ref };
      await writeFile(join(dir, 'entry.json'), JSON.stringify(entry));
      // Written last: a reader that finds the entry finds its features.
      await this.store.backend.write(`${name}.json`, join(dir, 'entry.json'));
    });
  }
}
