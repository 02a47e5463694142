import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { tempDir } from '@fidlab/testing';
import { gradient, writeImage, writeTruncatedPng } from '../test/fixtures.js';
import { cropColumns, decodeImage, resizeRgb } from './decodeImage.js';

test('RGBA drops alpha without compositing, as PIL convert("RGB")', async (t) => {
  const dir = tempDir(t);
  const f = await writeImage(
    join(dir, 'rgba.png'),
    4,
    3,
    4,
    (x, _y, c) => [200, 100, 50, x * 60][c],
  );
  const img = await decodeImage(f);
  assert.deepEqual([img.width, img.height, img.channels], [4, 3, 4]);
  assert.equal(img.data.length, 4 * 3 * 3);
  assert.deepEqual([...img.data.subarray(0, 6)], [200, 100, 50, 200, 100, 50]);
});

test('grayscale becomes three equal channels', async (t) => {
  const dir = tempDir(t);
  const f = await writeImage(join(dir, 'gray.png'), 5, 2, 1, (x) => x * 50);
  const img = await decodeImage(f);
  assert.equal(img.channels, 1);
  assert.deepEqual([...img.data.subarray(0, 9)], [0, 0, 0, 50, 50, 50, 100, 100, 100]);
});

test('JPEG decodes to RGB', async (t) => {
  const dir = tempDir(t);
  const f = await writeImage(join(dir, 'a.jpg'), 16, 16, 3, () => 128);
  const img = await decodeImage(f);
  assert.equal(img.data.length, 16 * 16 * 3);
  assert.ok(Math.abs(img.data[0] - 128) <= 2);
});

test('a truncated PNG fails naming the file', async (t) => {
  const f = await writeTruncatedPng(join(tempDir(t), 'cut.png'));
  await assert.rejects(decodeImage(f), (e: unknown) => {
    assert.ok(e instanceof FidlabError);
    assert.equal(e.code, ErrorCode.BAD_FILE_FORMAT);
    assert.match(e.message, /cut\.png is corrupt or truncated/);
    return true;
  });
});

test('an image over the pixel limit fails with its size and the limit', async (t) => {
  const f = await writeImage(join(tempDir(t), 'big.png'), 40, 30, 3, gradient);
  await assert.rejects(
    decodeImage(f, { maxPixels: 1000 }),
    /big\.png is too large: 40 x 30 = 1200 pixels exceeds the pixel limit of 1000/,
  );
});

test('a text file with an image name is not a readable image; a missing file is named', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'fake.png'), 'hello');
  await assert.rejects(decodeImage(join(dir, 'fake.png')), /fake\.png is not a readable image/);
  await assert.rejects(decodeImage(join(dir, 'nope.png')), (e: unknown) => {
    assert.ok(e instanceof FidlabError && e.code === ErrorCode.FILE_NOT_FOUND);
    return true;
  });
});

test('resizeRgb gives [0, 1] floats in every mode; cropColumns cuts the AB halves', async (t) => {
  const f = await writeImage(
    join(tempDir(t), 'ab.png'),
    8,
    4,
    3,
    (x, _y, c) => (x < 4 ? 0 : 255) * (c === 0 ? 1 : 0),
  );
  const ab = await decodeImage(f);
  const [a, b] = [cropColumns(ab, 0, 4), cropColumns(ab, 4, 4)];
  assert.ok(a.data.every((v) => v === 0));
  assert.deepEqual([...b.data.subarray(0, 3)], [255, 0, 0]);
  for (const mode of ['pytorch-bilinear', 'pil-bicubic', 'vips-bicubic'] as const) {
    const r = await resizeRgb(b, 6, 6, mode);
    assert.equal(r.data.length, 6 * 6 * 3);
    assert.ok(Math.abs(r.data[0] - 1) < 1e-6 && r.data[1] === 0, mode);
  }
});
