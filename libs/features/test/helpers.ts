// Shared test helpers: the PyTorch reference interpreter, the wasm backend, small test images.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPython } from '@fidlab/testing';
import { setupFastCpu } from '@fidlab/tfjs-cpu';
import sharp from 'sharp';

/** What torch_reference.py imports. */
export const TORCH = ['torch', 'torchvision', 'PIL'];

export const REFERENCE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_reference.py');

export function runReference(args: string[]): string {
  const py = findPython(TORCH)!;
  const r = spawnSync(py, [REFERENCE_SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`torch_reference.py ${args[0]} failed:\n${r.stderr}`);
  return r.stdout;
}

/** The wasm backend (fast forward convs) for the tests; idempotent. */
export function useWasm(): Promise<void> {
  return setupFastCpu();
}

/** Smooth random RGB images of the given sizes (PNG), so resizing has something to do. */
export async function writeImages(
  dir: string,
  sizes: Array<[number, number]>,
  seed: number,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const paths: string[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const [w, h] = sizes[i];
    const px = new Uint8Array(w * h * 3);
    const f = [rand() * 0.3, rand() * 0.3, rand() * 0.3];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          const v = 128 + 100 * Math.sin(f[c] * x + 0.2 * y * (c + 1) + i) + 25 * (rand() - 0.5);
          px[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
    const p = join(dir, `img_${String(i).padStart(3, '0')}.png`);
    writeFileSync(
      p,
      await sharp(px, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toBuffer(),
    );
    paths.push(p);
  }
  return paths;
}
