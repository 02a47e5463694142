import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { createRng, ErrorCode, FidlabError } from '@fidlab/base';
import { mixSeed } from '../augment.js';
import { formatCsv } from '../csv.js';
import { MANIFEST_COLUMNS, MANIFEST_NAME } from '../discoverDataset.js';
import { faceGeometry, faceVariation } from './faceModel.js';
import { photoSvg, sketchSvg } from './renderFace.js';

export interface SynthOptions {
  /** Output folder; must be empty or absent. */
  out: string;
  identities: number;
  perIdentity: number;
  /** Image side in pixels. */
  size: number;
  seed: number;
  /** 'identity': test identities never appear in train (for rank-k); 'image': every identity in both. */
  splitBy?: 'identity' | 'image';
  /** Share of identities (or of each identity's images) in the test split; default 0.25. */
  testFraction?: number;
  format?: 'png' | 'jpeg';
  /** Pairs rendered at once; default 4. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthResult {
  root: string;
  pairs: number;
  splits: { train: number; test: number };
}

/** Renders one photo/sketch pair as encoded image files (PNG or JPEG quality 90). */
export async function renderPair(
  seed: number,
  identity: number,
  k: number,
  size: number,
  format: 'png' | 'jpeg' = 'png',
): Promise<{ photo: Buffer; sketch: Buffer }> {
  const g = faceGeometry(seed, identity);
  const v = faceVariation(seed, identity, k);
  const encode = (s: sharp.Sharp) => (format === 'png' ? s.png() : s.jpeg({ quality: 90 }));
  const [photo, sketch] = await Promise.all([
    encode(sharp(Buffer.from(photoSvg(g, v, size))).removeAlpha()).toBuffer(),
    // The sketch is stored as a one-channel grayscale image.
    encode(
      sharp(Buffer.from(sketchSvg(g, v, size)))
        .removeAlpha()
        .toColourspace('b-w'),
    ).toBuffer(),
  ]);
  return { photo, sketch };
}

const identityName = (i: number) => `id${String(i).padStart(4, '0')}`;

function checkOptions(o: SynthOptions): void {
  const int = (x: number, name: string, min: number) => {
    if (!Number.isInteger(x) || x < min) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `${name} must be an integer >= ${min}, got ${x}`,
      );
    }
  };
  int(o.identities, 'identities', 1);
  int(o.perIdentity, 'perIdentity', 1);
  int(o.size, 'size', 16);
  int(o.seed, 'seed', 0);
  const tf = o.testFraction ?? 0.25;
  if (!(tf >= 0 && tf < 1)) {
    throw new FidlabError(ErrorCode.INVALID_CONFIG, `testFraction must be in [0, 1), got ${tf}`);
  }
}

/**
 * Writes a synthetic paired-folders dataset: `train|test/photos|sketches/idNNNN_KK.png` and
 * `pairs.csv` (photo, sketch, identity, split). Byte-identical for the same options.
 */
export async function synthDataset(o: SynthOptions): Promise<SynthResult> {
  checkOptions(o);
  const root = resolve(o.out);
  const existing = await readdir(root).catch(() => [] as string[]);
  if (existing.length > 0) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${o.out} is not empty; synth writes into an empty or new folder`,
    );
  }
  const splitBy = o.splitBy ?? 'identity';
  const tf = o.testFraction ?? 0.25;
  const format = o.format ?? 'png';
  const ext = format === 'png' ? 'png' : 'jpg';
  // Test identities: a seeded choice, so identity numbers do not encode the split.
  const testIds = new Set<number>();
  if (splitBy === 'identity') {
    const nTest = Math.round(o.identities * tf);
    const rng = createRng(mixSeed(o.seed, 0x7e57));
    const ids = Array.from({ length: o.identities }, (_, i) => i);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    ids.slice(0, nTest).forEach((i) => testIds.add(i));
  }
  const nTestImages = splitBy === 'image' && o.perIdentity > 1 ? Math.round(o.perIdentity * tf) : 0;
  const jobs: { id: number; k: number; split: 'train' | 'test' }[] = [];
  for (let id = 0; id < o.identities; id++) {
    for (let k = 0; k < o.perIdentity; k++) {
      const test = splitBy === 'identity' ? testIds.has(id) : k >= o.perIdentity - nTestImages;
      jobs.push({ id, k, split: test ? 'test' : 'train' });
    }
  }
  for (const split of new Set(jobs.map((j) => j.split))) {
    await mkdir(join(root, split, 'photos'), { recursive: true });
    await mkdir(join(root, split, 'sketches'), { recursive: true });
  }
  const rows: string[][] = [[...MANIFEST_COLUMNS]];
  let cursor = 0;
  let done = 0;
  const worker = async () => {
    while (cursor < jobs.length) {
      const { id, k, split } = jobs[cursor++];
      const name = `${identityName(id)}_${String(k).padStart(2, '0')}.${ext}`;
      const { photo, sketch } = await renderPair(o.seed, id, k, o.size, format);
      await writeFile(join(root, split, 'photos', name), photo);
      await writeFile(join(root, split, 'sketches', name), sketch);
      o.onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  for (const { id, k, split } of jobs) {
    const name = `${identityName(id)}_${String(k).padStart(2, '0')}.${ext}`;
    rows.push([`${split}/photos/${name}`, `${split}/sketches/${name}`, identityName(id), split]);
  }
  await writeFile(join(root, MANIFEST_NAME), formatCsv(rows));
  const test = jobs.filter((j) => j.split === 'test').length;
  return { root, pairs: jobs.length, splits: { train: jobs.length - test, test } };
}
