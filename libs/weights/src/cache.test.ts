import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FIXTURES } from '../test/torchFixtures.js';
import { cachedConversion, sha256File, sha256Memo, weightsCacheDir } from './cache.js';
import type { StateDict } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'fidlab-weights-cache-'));
after(() => rm(root, { recursive: true, force: true }));

/** A conversion that transposes 'fc.weight_t' back (the kind of layout change D1 caches). */
function transpose(sd: StateDict): StateDict {
  const t = sd.get('fc.weight_t')!;
  const [r, c] = t.shape;
  const data = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j];
  return new Map([['fc.weight', { shape: [c, r], dtype: t.dtype, data }]]);
}

describe('weights cache', () => {
  it('weightsCacheDir: FIDLAB_WEIGHTS, else ~/.cache/fidlab/weights', () => {
    const saved = process.env.FIDLAB_WEIGHTS;
    try {
      process.env.FIDLAB_WEIGHTS = join(root, 'w');
      assert.equal(weightsCacheDir(), join(root, 'w'));
      delete process.env.FIDLAB_WEIGHTS;
      assert.equal(weightsCacheDir(), join(homedir(), '.cache', 'fidlab', 'weights'));
    } finally {
      if (saved === undefined) delete process.env.FIDLAB_WEIGHTS;
      else process.env.FIDLAB_WEIGHTS = saved;
    }
  });

  it('sha256File matches a known digest; sha256Memo remembers it per size and mtime', async () => {
    const p = join(root, 'abc.txt');
    writeFileSync(p, 'abc');
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    assert.equal(await sha256File(p), abc);
    const cache = join(root, 'memo');
    assert.equal(await sha256Memo(p, cache), abc);
    assert.equal(await sha256Memo(p, cache, 'f'.repeat(64)), 'f'.repeat(64)); // caller-known hash
    assert.equal(await sha256Memo(p, cache), 'f'.repeat(64)); // remembered, not re-read
    writeFileSync(p, 'abcd'); // size changes: hashed again
    assert.notEqual(await sha256Memo(p, cache), 'f'.repeat(64));
    const q = join(root, 'other.txt');
    writeFileSync(q, 'abc');
    rmSync(p);
    await sha256Memo(q, cache);
    const memo = JSON.parse(readFileSync(join(cache, 'hashes.json'), 'utf8'));
    assert.deepEqual(Object.keys(memo), [q], 'entries of deleted files are dropped');
  });

  it('cachedConversion converts once per source content and tag', async () => {
    const cache = join(root, 'conv');
    const src = join(root, 'model.pth');
    copyFileSync(join(FIXTURES, 'sd_zip.pth'), src);
    let calls = 0;
    const convert = (sd: StateDict) => (calls++, transpose(sd));
    const a = await cachedConversion(src, 'fc-v1', convert, { cacheDir: cache });
    const b = await cachedConversion(src, 'fc-v1', convert, { cacheDir: cache });
    assert.equal(calls, 1);
    assert.deepEqual(b, a);
    assert.deepEqual(a.get('fc.weight')!.shape, [6, 5]);
    const files = readdirSync(join(cache, 'converted'));
    assert.equal(files.length, 1);
    assert.match(files[0], /^fc-v1-[0-9a-f]{16}\.safetensors$/);

    await cachedConversion(src, 'fc-v2', convert, { cacheDir: cache });
    assert.equal(calls, 2, 'a new tag converts again');
    copyFileSync(join(FIXTURES, 'sd_legacy.pth'), src); // same tensors, other bytes
    await cachedConversion(src, 'fc-v1', convert, { cacheDir: cache });
    assert.equal(calls, 3, 'new source content converts again');

    writeFileSync(join(cache, 'converted', files[0]), 'garbage');
    copyFileSync(join(FIXTURES, 'sd_zip.pth'), src);
    const c = await cachedConversion(src, 'fc-v1', convert, { cacheDir: cache });
    assert.equal(calls, 4, 'a damaged cache file is replaced');
    assert.deepEqual(c, a);
  });
});
