// Shared by the weights tests: the committed PyTorch fixtures and a live generator run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateDict } from '../src/types.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = resolve(here, '..', 'test-fixtures', 'torch');
const GENERATOR = resolve(here, '..', '..', '..', 'tools', 'fixtures', 'make_torch_weights.py');

export interface Expected {
  torch: string;
  seed: number;
  tensors: Record<string, { shape: number[]; dtype: string; values: (number | string)[] }>;
}

export function readExpected(dir = FIXTURES): Expected {
  return JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
}

const decode = (v: number | string): number =>
  typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : -Infinity;

/** Every expected tensor present with the same shape, dtype and bit-identical float32 values. */
export function assertMatches(
  sd: StateDict,
  expected: Expected['tensors'],
  opts: { only?: (dtype: string) => boolean } = {},
): void {
  const keys = Object.keys(expected).filter((k) => !opts.only || opts.only(expected[k].dtype));
  if (!opts.only) assert.deepEqual([...sd.keys()], keys, 'same keys in file order');
  for (const k of keys) {
    const t = sd.get(k);
    assert.ok(t, `tensor ${k} missing`);
    const e = expected[k];
    assert.deepEqual(t.shape, e.shape, `${k} shape`);
    assert.equal(t.dtype, e.dtype, `${k} dtype`);
    assert.equal(t.data.length, e.values.length, `${k} length`);
    for (let i = 0; i < e.values.length; i++) {
      const want = Math.fround(decode(e.values[i]));
      if (!Object.is(t.data[i], want)) assert.fail(`${k}[${i}] = ${t.data[i]}, expected ${want}`);
    }
  }
}

/** Runs the fixture generator into a fresh temporary folder; returns the folder. */
export function generateFixtures(python: string, seed: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-weights-'));
  const r = spawnSync(python, [GENERATOR, '--out', dir, '--seed', String(seed)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`fixture generator failed: ${r.stderr}`);
  return dir;
}
