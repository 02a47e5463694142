import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { tempDir } from '@fidlab/testing';
import { gradient, writeImage, writeTruncatedPng } from '../test/fixtures.js';
import { assertDatasetOk, checkDataset, formatCheckSummary } from './checkDataset.js';
import { discoverDataset } from './discoverDataset.js';
import { synthDataset } from './synth/synthDataset.js';

test('a synthetic dataset passes with counts, identities, sizes and channels', async (t) => {
  const { root } = await synthDataset({
    out: tempDir(t),
    identities: 4,
    perIdentity: 2,
    size: 32,
    seed: 2,
  });
  const r = await checkDataset(await discoverDataset(root));
  assert.equal(r.ok, true);
  assert.deepEqual(r.splits, [
    { name: 'test', items: 2, identities: 1 },
    { name: 'train', items: 6, identities: 3 },
  ]);
  assert.equal(r.sharedIdentities, 0);
  assert.deepEqual(r.sizes, [{ size: '32x32', count: 16 }]);
  assert.deepEqual(r.channels, [
    { channels: 1, count: 8 },
    { channels: 3, count: 8 },
  ]);
  const table = formatCheckSummary(r).join('\n');
  assert.match(table, /train\s+6\s+3/);
  assert.match(table, /total\s+8\s+4/);
  assertDatasetOk(r);
});

test('every problem is listed with its path; size mismatches and non-images are notes', async (t) => {
  const root = tempDir(t);
  await writeImage(join(root, 'train/photos/ok.png'), 16, 16, 3, gradient);
  await writeImage(join(root, 'train/sketches/ok.png'), 20, 16, 1, gradient);
  await writeImage(join(root, 'train/photos/rgba.png'), 16, 16, 4, gradient);
  await writeTruncatedPng(join(root, 'train/sketches/rgba.png'));
  await writeImage(join(root, 'train/photos/alone.png'), 16, 16, 3, gradient);
  writeFileSync(join(root, 'train/photos/readme.txt'), 'x');
  const seen: number[] = [];
  const r = await checkDataset(await discoverDataset(root), { onProgress: (d) => seen.push(d) });
  assert.equal(r.ok, false);
  assert.equal(seen.at(-1), 4);
  assert.deepEqual(
    r.problems.map((p) => [p.path.slice(root.length + 1), p.reason.split(' (')[0]]),
    [
      ['train/photos/alone.png', 'photo without a sketch'],
      ['train/sketches/rgba.png', 'is corrupt or truncated'],
    ],
  );
  assert.match(r.notes[0].reason, /size 20x16 differs from its photo's 16x16 \(both are resized\)/);
  assert.deepEqual(r.channels, [
    { channels: 1, count: 1 },
    { channels: 3, count: 1 },
    { channels: 4, count: 1 },
  ]);
  assert.equal(r.ignored.length, 1);
  const lenient = await checkDataset(await discoverDataset(root), { skipBad: true });
  assert.equal(lenient.problems.length, 1);
  assert.match(
    formatCheckSummary(lenient).join('\n'),
    /skipped: .*rgba\.png: is corrupt or truncated/,
  );
  assert.throws(
    () => assertDatasetOk(r),
    (e: unknown) => {
      assert.ok(e instanceof FidlabError && e.code === ErrorCode.INVALID_INPUT);
      assert.match(
        e.message,
        /failed the check with 2 problem\(s\):\n {2}.*alone\.png: photo without a sketch\n {2}.*rgba\.png: is corrupt/,
      );
      return true;
    },
  );
});
