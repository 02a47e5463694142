import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@fidlab/testing';
import { gradient, writeImage, writeTruncatedPng } from '../test/fixtures.js';
import { augmentParams } from './augment.js';
import { sharedCropPool } from './cropPool.js';
import { discoverDataset } from './discoverDataset.js';
import {
  createImageCache,
  epochOrder,
  loadBatches,
  type Batch,
  type LoaderOptions,
} from './loadBatches.js';

/** Paired folders whose photo and sketch are the same picture, so pair alignment is checkable. */
async function twinDataset(root: string, n: number, size = 20) {
  for (let i = 0; i < n; i++) {
    const fn = (x: number, y: number, c: number) => (gradient(x, y, c) + i * 7) % 256;
    await writeImage(join(root, 'train/photos', `${i}.png`), size, size, 3, fn);
    await writeImage(join(root, 'train/sketches', `${i}.png`), size, size, 3, fn);
  }
  return discoverDataset(root);
}

async function all(index: Awaited<ReturnType<typeof discoverDataset>>, o: LoaderOptions) {
  const out: Batch[] = [];
  for await (const b of loadBatches(index, o)) out.push(b);
  return out;
}

test('batches are NHWC float32 in the asked range, last batch short', async (t) => {
  const ix = await twinDataset(tempDir(t), 5);
  const batches = await all(ix, { size: 8, batchSize: 2, range: '[0,1]' });
  assert.deepEqual(
    batches.map((b) => b.n),
    [2, 2, 1],
  );
  assert.equal(batches[0].a.length, 2 * 8 * 8 * 3);
  assert.ok(batches[0].a.every((v) => v >= 0 && v <= 1));
  const signed = await all(ix, { size: 8, batchSize: 5 });
  assert.ok(signed[0].a.some((v) => v < 0));
  assert.ok(signed[0].a.every((v) => v >= -1 && v <= 1));
  assert.equal((await all(ix, { size: 8, batchSize: 2, dropLast: true })).length, 2);
});

test('augmentation crops and flips both images of a pair identically, seeded per (seed, epoch)', async (t) => {
  const ix = await twinDataset(tempDir(t), 6);
  const o: LoaderOptions = {
    size: 16,
    augment: { loadSize: 20, flip: true },
    batchSize: 3,
    shuffle: true,
    seed: 3,
  };
  const e0 = await all(ix, { ...o, epoch: 0 });
  for (const b of e0) assert.deepEqual(b.a, b.b);
  const again = await all(ix, { ...o, epoch: 0, prefetch: 0, concurrency: 1 });
  assert.deepEqual(
    e0.map((b) => [b.items.map((i) => i.id), b.a]),
    again.map((b) => [b.items.map((i) => i.id), b.a]),
  );
  const e1 = await all(ix, { ...o, epoch: 1 });
  assert.notDeepEqual(
    e0.map((b) => b.items.map((i) => i.id)),
    e1.map((b) => b.items.map((i) => i.id)),
  );
  // Some sample is flipped: its first pixel equals the unflipped crop's last pixel of the row.
  const flips = Array.from(
    { length: 6 },
    (_, i) => augmentParams({ loadSize: 20, flip: true }, 16, 3, 0, i).flip,
  );
  assert.ok(flips.includes(true) && flips.includes(false));
});

test('a flipped crop mirrors the unflipped one', async (t) => {
  const ix = await twinDataset(tempDir(t), 1, 16);
  const plain = (await all(ix, { size: 16, resize: 'pil-bicubic' }))[0].a;
  // Find a seed whose only sample flips without cropping (loadSize = size).
  let seed = 0;
  while (!augmentParams({ loadSize: 16, flip: true }, 16, seed, 0, 0).flip) seed++;
  const flipped = (await all(ix, { size: 16, augment: { loadSize: 16, flip: true }, seed }))[0].a;
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++)
      for (let c = 0; c < 3; c++)
        assert.ok(
          Math.abs(flipped[(y * 16 + x) * 3 + c] - plain[(y * 16 + 15 - x) * 3 + c]) < 1e-6,
        );
});

test('shuffling is a permutation, fixed per (seed, epoch)', () => {
  const p = epochOrder(50, true, 1, 2);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.deepEqual(p, epochOrder(50, true, 1, 2));
  assert.notDeepEqual(p, epochOrder(50, true, 1, 3));
  assert.deepEqual([...epochOrder(4, false, 1, 2)], [0, 1, 2, 3]);
});

test('a truncated image fails the batch naming it, or is skipped and reported with skipBad', async (t) => {
  const root = tempDir(t);
  const ix0 = await twinDataset(root, 3);
  await writeTruncatedPng(join(root, 'train/sketches/1.png'));
  const ix = await discoverDataset(root);
  assert.equal(ix.items.length, ix0.items.length);
  await assert.rejects(all(ix, { size: 8, batchSize: 2 }), /1\.png is corrupt or truncated/);
  const skipped: string[] = [];
  const batches = await all(ix, {
    size: 8,
    batchSize: 2,
    skipBad: true,
    onSkip: (p) => skipped.push(p.path),
  });
  assert.deepEqual(
    batches.map((b) => b.n),
    [1, 1],
  );
  assert.deepEqual(skipped, [join('train', 'photos', '1.png')]);
});

test('RGBA photos and grayscale sketches load as 3 channels; mismatched pair sizes are resized', async (t) => {
  const root = tempDir(t);
  await writeImage(join(root, 'train/photos/a.png'), 12, 12, 4, (x, y, c) =>
    c === 3 ? 0 : gradient(x, y, c),
  );
  await writeImage(join(root, 'train/sketches/a.png'), 24, 20, 1, () => 255);
  const [b] = await all(await discoverDataset(root), { size: 12, range: '[0,1]' });
  assert.equal(b.b!.length, 12 * 12 * 3);
  assert.ok(b.b!.every((v) => Math.abs(v - 1) < 1e-6));
  assert.equal(b.a[1], 0); // alpha 0 is dropped, not composited: green of pixel (0,0) = 0
});

test('aligned AB images split into A and B; single folders give only A; the cache is reused', async (t) => {
  const root = tempDir(t);
  await writeImage(join(root, 'train/0.png'), 16, 8, 3, (x) => (x < 8 ? 0 : 255));
  const ab = await discoverDataset(root);
  const cache = createImageCache();
  const [b] = await all(ab, { size: 8, range: '[0,1]', cache });
  assert.ok(b.a.every((v) => v === 0) && b.b!.every((v) => v === 1));
  assert.equal(cache.size, 1);
  const [again] = await all(ab, { size: 8, range: '[0,1]', cache });
  assert.deepEqual(again.a, b.a);
  const aug = { size: 8, augment: { loadSize: 10, flip: true }, cache, shuffle: true };
  const [v] = await all(ab, aug);
  assert.ok(v.a.every((x) => x === -1) && v.b!.every((x) => x === 1));
  const single = await discoverDataset(root, { layout: 'single' });
  const [s] = await all(single, { size: 8 });
  assert.equal(s.b, null);
});

test('bad loader options are named', async (t) => {
  const ix = await twinDataset(tempDir(t), 1);
  await assert.rejects(
    all(ix, { size: 8, resize: 'lanczos' as 'pil-bicubic' }),
    /unknown resize mode 'lanczos' \(modes: pytorch-bilinear, pil-bicubic, vips-bicubic\)/,
  );
  await assert.rejects(
    all(ix, { size: 8, augment: { loadSize: 4, flip: false } }),
    /loadSize \(4\) must be >= the crop size \(8\)/,
  );
  await assert.rejects(
    all(ix, { size: 8, batchSize: 0 }),
    /batchSize must be an integer >= 1, got 0/,
  );
});

test('with a cache, vips-bicubic augmentation crops the cached resized image identically', async (t) => {
  const ix = await twinDataset(tempDir(t), 4, 24);
  const o: LoaderOptions = {
    size: 16,
    augment: { loadSize: 20, flip: true },
    batchSize: 4,
    seed: 5,
  };
  const [plain] = await all(ix, o);
  const cache = createImageCache();
  await all(ix, { ...o, cache, epoch: 7 });
  const [cached] = await all(ix, { ...o, cache });
  assert.equal(cache.size, 4);
  let worst = 0;
  for (let i = 0; i < plain.a.length; i++)
    worst = Math.max(worst, Math.abs(plain.a[i] - cached.a[i]));
  assert.ok(worst < 1e-6, `worst ${worst}`);
});

test('worker threads give the same batches as the main thread, and report bad files', async (t) => {
  const root = tempDir(t);
  for (let i = 0; i < 5; i++) {
    await writeImage(
      join(root, 'train/photos', `${i}.png`),
      20,
      20,
      3,
      (x, y, c) => (x * 9 + y * 5 + c * 70 + i * 13) % 256,
    );
    await writeImage(
      join(root, 'train/sketches', `${i}.png`),
      20,
      20,
      1,
      (x, y) => (x * 11 + y * 3 + i * 29) % 256,
    );
  }
  const ix = await discoverDataset(root);
  const o: LoaderOptions = {
    size: 16,
    augment: { loadSize: 22, flip: true },
    batchSize: 2,
    shuffle: true,
    seed: 5,
  };
  const main = await all(ix, o);
  const threads = await all(ix, { ...o, workers: 2 });
  assert.deepEqual(
    threads.map((b) => [b.items.map((i) => i.id), b.a, b.b]),
    main.map((b) => [b.items.map((i) => i.id), b.a, b.b]),
  );
  // The gray sketch comes out as equal R, G, B.
  const b = main[0].b!;
  for (let i = 0; i < b.length; i += 3) assert.ok(b[i] === b[i + 1] && b[i] === b[i + 2]);
  await writeTruncatedPng(join(root, 'train/sketches/3.png'));
  await assert.rejects(all(ix, { ...o, workers: 1 }), /3\.png is corrupt or truncated/);
  const skipped: string[] = [];
  const kept = await all(ix, {
    ...o,
    workers: 1,
    skipBad: true,
    onSkip: (p) => skipped.push(p.path),
  });
  assert.equal(
    kept.reduce((s, x) => s + x.n, 0),
    4,
  );
  assert.deepEqual(skipped, [join('train', 'photos', '3.png')]);
  // Later calls reuse the started workers (idle workers do not keep the process alive).
  assert.equal(sharedCropPool(1), sharedCropPool(1));
});
