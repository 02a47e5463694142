import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resizeFloat } from './resize.js';

const close = (a: ArrayLike<number>, b: number[], eps = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++)
    assert.ok(Math.abs(a[i] - b[i]) < eps, `${i}: ${a[i]} vs ${b[i]}`);
};

test('pytorch-bilinear upsamples a row as F.interpolate(align_corners=False)', () => {
  // src = (dst + 0.5) * 0.5 - 0.5, clamped at 0: -0.25 -> 0, 0.25, 0.75, 1.25 -> last pixel.
  const out = resizeFloat(Float32Array.from([0, 1]), 1, 2, 1, 1, 4, 'pytorch-bilinear');
  close(out, [0, 0.25, 0.75, 1]);
});

test('pytorch-bilinear halves by averaging neighbours (no antialiasing)', () => {
  const out = resizeFloat(Float32Array.from([0, 1, 0.5, 0.25]), 1, 4, 1, 1, 2, 'pytorch-bilinear');
  close(out, [0.5, 0.375]);
});

test('pil-bicubic upsampling matches PIL precompute_coeffs worked by hand', () => {
  // Output 0: centre 0.25, taps x=0,1 with cubic(0.25) = 0.8671875, cubic(1.25) = -0.0703125,
  // normalised by their sum 0.796875.
  const out = resizeFloat(Float32Array.from([0.5, 1]), 1, 2, 1, 1, 4, 'pil-bicubic');
  close(out.subarray(0, 1), [(0.5 * 0.8671875 - 0.0703125) / 0.796875]);
  // Output 3 mirrors output 0 and overshoots to 1.044, which clean-fid clips to the range.
  close(out.subarray(3, 4), [1]);
});

test('pil-bicubic antialiases when shrinking: a 1-px checkerboard turns grey', () => {
  const n = 16;
  const src = new Float32Array(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) src[y * n + x] = (x + y) % 2;
  const pil = resizeFloat(src, n, n, 1, 4, 4, 'pil-bicubic');
  for (const v of pil) assert.ok(Math.abs(v - 0.5) < 0.02, `pil ${v}`);
  // pytorch's two-tap bilinear samples exactly between pixels here too, but at other ratios it
  // aliases: 16 -> 5 keeps strong contrast.
  const torch = resizeFloat(src, n, n, 1, 5, 5, 'pytorch-bilinear');
  const pil5 = resizeFloat(src, n, n, 1, 5, 5, 'pil-bicubic');
  const spread = (a: Float32Array) => Math.max(...a) - Math.min(...a);
  assert.ok(spread(torch) > 0.1, `torch spread ${spread(torch)}`);
  assert.ok(spread(pil5) < spread(torch), 'antialiased output varies less');
});

test('constant images stay constant and values stay in [0, 1] for pil-bicubic', () => {
  const src = new Float32Array(7 * 5 * 3).fill(0.3);
  for (const mode of ['pytorch-bilinear', 'pil-bicubic'] as const) {
    const out = resizeFloat(src, 5, 7, 3, 11, 13, mode);
    assert.equal(out.length, 11 * 13 * 3);
    for (const v of out) assert.ok(Math.abs(v - 0.3) < 1e-6);
  }
  const step = Float32Array.from([0, 0, 1, 1]);
  for (const v of resizeFloat(step, 1, 4, 1, 1, 9, 'pil-bicubic')) assert.ok(v >= 0 && v <= 1);
});
