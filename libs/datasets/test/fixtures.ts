// Test images made on the fly (nothing large is committed): sharp writes them into a temp folder
// (tempDir from @fidlab/testing).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';

/** Raw pixels [h, w, channels] where pixel (x, y) channel c = fn(x, y, c). */
export function pixels(
  width: number,
  height: number,
  channels: number,
  fn: (x: number, y: number, c: number) => number,
): Buffer {
  const b = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) b[(y * width + x) * channels + c] = fn(x, y, c);
  return b;
}

/** Writes an image file (format from the extension); grayscale stays one channel. */
export async function writeImage(
  path: string,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  fn: (x: number, y: number, c: number) => number,
): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  let s = sharp(pixels(width, height, channels, fn), { raw: { width, height, channels } });
  if (channels === 1) s = s.toColourspace('b-w');
  if (path.endsWith('.jpg')) s = s.jpeg({ quality: 95 });
  else s = s.png();
  await s.toFile(path);
  return path;
}

/** A PNG cut off after 60% of its bytes. */
export async function writeTruncatedPng(path: string, size = 64): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  // Noise does not compress away, so the cut lands inside the pixel data.
  const png = await sharp(
    pixels(size, size, 3, (x, y, c) => (x * 31 + y * 17 + c * 101) % 251),
    {
      raw: { width: size, height: size, channels: 3 },
    },
  )
    .png({ compressionLevel: 0 })
    .toBuffer();
  writeFileSync(path, png.subarray(0, Math.floor(png.length * 0.6)));
  return path;
}

/** A gradient that tells left from right and top from bottom. */
export const gradient = (x: number, y: number, c: number) =>
  (c === 0 ? x * 8 : c === 1 ? y * 8 : 128) % 256;
