import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { tempDir } from '@fidlab/testing';
import { pixels, writeImage } from '../test/fixtures.js';
import { grayUnitInto, unitInto } from './augment.js';
import { decodePixels8, resizeCropVips, resizeCropVips8 } from './decodeImage.js';
import { discoverDataset } from './discoverDataset.js';
import { loadBatches } from './loadBatches.js';
import { vipsCubicApplies, vipsCubicCropInto } from './vipsCubic.js';

/** Deterministic noise (with saturated pixels, where the cubic overshoots and is clipped). */
const noise = (seed: number) => (x: number, y: number, c: number) => {
  const h = Math.imul(x * 73856093 + y * 19349663 + c * 83492791 + seed, 0x9e3779b1) >>> 24;
  return h < 40 ? 0 : h > 215 ? 255 : h;
};

test('vipsCubicCropInto equals sharp resize(cubic) + flop + extract, bit for bit', async (t) => {
  const dir = tempDir(t);
  // [width, height, target, crop size]: pix2pix 256 -> 286, odd sizes, one axis already at the
  // target, tiny images (edge extension everywhere), and no resize at all.
  const cases = [
    [256, 256, 286, 256],
    [17, 23, 40, 31],
    [100, 60, 120, 100],
    [64, 50, 64, 48],
    [2, 3, 5, 5],
    [30, 30, 30, 24],
  ];
  let n = 0;
  for (const [w, h, target, size] of cases) {
    for (const channels of [1, 3] as const) {
      for (const flip of [false, true]) {
        n++;
        const path = await writeImage(join(dir, `${n}.png`), w, h, channels, noise(n));
        const crop = { x: (n * 7) % (target - size + 1), y: (n * 3) % (target - size + 1), flip };
        const ref = await resizeCropVips8({ path }, target, crop, size);
        assert.equal(ref.channels, channels);
        const want = new Float32Array(size * size * 3);
        (channels === 1 ? grayUnitInto : unitInto)(ref.data, -1, 1, want, 0);
        const px = await decodePixels8(path);
        assert.ok(px && px.channels === channels && vipsCubicApplies(px.width, px.height, target));
        const got = new Float32Array(size * size * 3 + 5).fill(7);
        vipsCubicCropInto(px.data, w, h, channels, target, crop, size, -1, 1, got, 5);
        assert.deepEqual(got.subarray(5), want, `${w}x${h} -> ${target}, ${channels} ch, ${flip}`);
        assert.equal(got[4], 7); // nothing written before the offset
      }
    }
  }
  assert.equal(vipsCubicApplies(300, 256, 286), false); // shrinking: libvips reduce, not this
});

test('gray stays one channel through resizeCropVips8 and expands to the RGB path exactly', async (t) => {
  const path = await writeImage(join(tempDir(t), 'g.png'), 40, 40, 1, noise(1));
  const crop = { x: 3, y: 5, flip: true };
  const gray = await resizeCropVips8({ path }, 48, crop, 40);
  assert.equal(gray.channels, 1);
  // The old pipeline converted to sRGB before resizing.
  const file = await sharp(path).toColourspace('srgb').png().toBuffer();
  const rgbPath = join(tempDir(t), 'rgb.png');
  await sharp(file).toFile(rgbPath);
  const viaRgb = await resizeCropVips({ path: rgbPath }, 48, crop, 40);
  assert.deepEqual(await resizeCropVips({ path }, 48, crop, 40), viaRgb);
});

test('16-bit files skip the 8-bit path and load as before', async (t) => {
  const root = tempDir(t);
  const raw = pixels(24, 24, 3, noise(2));
  for (const side of ['photos', 'sketches']) {
    await writeImage(join(root, 'train', side, 'a.png'), 24, 24, 3, noise(2));
  }
  const p16 = join(root, 'train/photos/a.png');
  await sharp(raw, { raw: { width: 24, height: 24, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(p16);
  assert.equal(await decodePixels8(p16), null);
  const ix = await discoverDataset(root);
  const aug = { loadSize: 28, flip: true };
  const batches = [];
  for await (const b of loadBatches(ix, { size: 24, augment: aug, seed: 4 })) batches.push(b);
  assert.equal(batches.length, 1);
  const b = batches[0];
  assert.ok(b.a.every((v) => v >= -1 && v <= 1));
  // The 8-bit sketch (same pixels) agrees with the 16-bit photo (resized at 16 bits, then cast)
  // to within two 8-bit steps (the 8-bit path rounds after each pass).
  let worst = 0;
  for (let i = 0; i < b.a.length; i++) worst = Math.max(worst, Math.abs(b.a[i] - b.b![i]));
  assert.ok(worst > 0 && worst <= (2 * 2) / 255 + 1e-6, `worst ${worst * 127.5} steps`);
});
