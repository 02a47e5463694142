// BMP, PGM and PPM: the formats pytorch-fid reads (through PIL) that sharp does not. The
// committed files and PIL's pixels for them come from tools/fixtures/make_image_format_fixtures.py;
// the other cases are files this test writes.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { ErrorCode } from '@fidlab/base';
import { rejectsCode, tempDir, throwsCode } from '@fidlab/testing';
import { decodeImage, decodePixels8, resizeCropVips8 } from './decodeImage.js';
import { IMAGE_EXTENSIONS, listImages } from './imageFiles.js';
import { decodeNetpbm } from './netpbm.js';

const FIXTURES = new URL('../test-fixtures/formats/', import.meta.url);
const expected = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as Record<
  string,
  { width: number; height: number; rgb: number[] }
>;
const names = readdirSync(FIXTURES).filter((n) => n !== 'expected.json');

describe('decodeImage reads BMP / PGM / PPM exactly as PIL convert("RGB")', () => {
  test('there are fixtures of each kind', () => {
    for (const ext of ['.bmp', '.pgm', '.ppm'])
      assert.ok(names.filter((n) => n.endsWith(ext)).length >= 2, ext);
  });
  for (const name of names) {
    test(name, async () => {
      const want = expected[name];
      assert.ok(want, `${name} is missing from expected.json (rerun the fixture script)`);
      const img = await decodeImage(new URL(name, FIXTURES).pathname);
      assert.deepEqual([img.width, img.height], [want.width, want.height]);
      assert.deepEqual([...img.data], want.rgb);
    });
  }
});

test('decodePixels8 keeps PGM gray as one channel; the vips crop path reads BMP', async (t) => {
  const gray = await decodePixels8(new URL('gray.pgm', FIXTURES).pathname);
  assert.ok(gray);
  assert.equal(gray.channels, 1);
  const want = expected['gray.pgm'].rgb.filter((_, i) => i % 3 === 0);
  assert.deepEqual([...gray.data], want);

  // The crop path gives a BMP the same pixels as a PNG of what PIL reads from it.
  const dir = tempDir(t);
  const { width, height, rgb } = expected['rgb24.bmp'];
  const png = join(dir, 'same.png');
  await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
    .png()
    .toFile(png);
  const crop = { x: 1, y: 2, flip: true };
  const fromBmp = await resizeCropVips8(
    { path: new URL('rgb24.bmp', FIXTURES).pathname },
    9,
    crop,
    6,
  );
  const fromPng = await resizeCropVips8({ path: png }, 9, crop, 6);
  assert.equal(fromBmp.channels, 3);
  assert.deepEqual([...fromBmp.data], [...fromPng.data]);
});

test('folders list every pytorch-fid image extension, upper case too', (t) => {
  const dir = tempDir(t);
  assert.deepEqual([...IMAGE_EXTENSIONS].sort(), [
    '.bmp',
    '.jpeg',
    '.jpg',
    '.pgm',
    '.png',
    '.ppm',
    '.tif',
    '.tiff',
    '.webp',
  ]);
  for (const n of ['a.BMP', 'b.pgm', 'c.ppm', 'd.png', 'e.txt', 'f.pbm'])
    writeFileSync(join(dir, n), '');
  const { images, other } = listImages(dir);
  assert.deepEqual(
    images.map((p) => p.slice(dir.length + 1)),
    ['a.BMP', 'b.pgm', 'c.ppm', 'd.png'],
  );
  assert.deepEqual(
    other.map((p) => p.slice(dir.length + 1)),
    ['e.txt', 'f.pbm'],
  );
});

describe('Netpbm edge cases (files written here)', () => {
  const enc = (s: string) => new TextEncoder().encode(s);

  test('comments anywhere in the header, halves rounded to even as PIL does', () => {
    // maxval 10: 1 -> 25.5 -> 26 (even), 3 -> 76.5 -> 76 (even), 10 -> 255.
    const img = decodeNetpbm(enc('P2 # a comment\n3 # w\n1\n# max\n10\n1 3 10\n'), 'x.pgm');
    assert.deepEqual([img.width, img.height, img.channels], [3, 1, 1]);
    assert.deepEqual([...img.data], [26, 76, 255]);
  });

  test('P4 rows are padded to whole bytes; 1 is black', () => {
    const img = decodeNetpbm(
      Uint8Array.from([...enc('P4\n3 2\n'), 0b10100000, 0b01000000]),
      'x.pbm',
    );
    assert.deepEqual([...img.data], [0, 255, 0, 255, 0, 255]);
  });

  test('truncated, oversized or malformed files fail with one line naming the file', async (t) => {
    throwsCode(
      () => decodeNetpbm(Uint8Array.from([...enc('P5 4 4 255\n'), 1, 2, 3]), 'short.pgm'),
      ErrorCode.BAD_FILE_FORMAT,
      /short\.pgm is corrupt or truncated \(3 of 16 samples/,
    );
    throwsCode(
      () => decodeNetpbm(enc('P2 2 1 15\n3 16\n'), 'big.pgm'),
      ErrorCode.BAD_FILE_FORMAT,
      /big\.pgm: sample 2 is 16, above maxval 15/,
    );
    throwsCode(
      () => decodeNetpbm(enc('P6 2 x 255\n'), 'bad.ppm'),
      ErrorCode.BAD_FILE_FORMAT,
      /bad\.ppm is not a valid Netpbm file: height missing or not a number/,
    );
    throwsCode(
      () => decodeNetpbm(enc('P5 2 2 70000\n'), 'deep.pgm'),
      ErrorCode.BAD_FILE_FORMAT,
      /maxval 70000 is not in 1\.\.65535/,
    );
    const dir = tempDir(t);
    const huge = join(dir, 'huge.ppm');
    writeFileSync(huge, 'P6 5000 5000 255\n');
    await rejectsCode(
      decodeImage(huge, { maxPixels: 1000 }),
      ErrorCode.BAD_FILE_FORMAT,
      /huge\.ppm is too large: 5000 x 5000 = 25000000 pixels exceeds the pixel limit of 1000/,
    );
    const cut = join(dir, 'cut.bmp');
    writeFileSync(cut, readFileSync(new URL('rgb24.bmp', FIXTURES)).subarray(0, 70));
    await rejectsCode(
      decodeImage(cut),
      ErrorCode.BAD_FILE_FORMAT,
      /cut\.bmp is corrupt or truncated/,
    );
    // A BMP under another image extension is still found by its magic bytes.
    copyFileSync(new URL('rgb24.bmp', FIXTURES), join(dir, 'really-a-bmp.png'));
    const img = await decodeImage(join(dir, 'really-a-bmp.png'));
    assert.deepEqual([...img.data], expected['rgb24.bmp'].rgb);
  });
});
