import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCode, FidlabError, openArtifactStore } from '@fidlab/base';
import { ArtifactFeatureCache } from './artifactFeatureCache.js';
import type { FeatureCacheKey } from './ports.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-feature-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const key: FeatureCacheKey = {
  data: 'a'.repeat(64),
  split: 'test',
  extractor: 'inception:2048',
  weightsSha256: null,
  protocol: 2,
};
// Values float32 -> float64 conversions and rounding would change: -0, a subnormal, 1/3, max.
const features = {
  rows: 2,
  cols: 3,
  data: new Float64Array([-0, 5e-324, 1 / 3, Number.MAX_VALUE, -1e-300, Math.PI]),
};

test('features come back bit for bit; any changed key component is a miss', async () => {
  const cache = new ArtifactFeatureCache(await openArtifactStore(join(dir, 'root')), dir);
  assert.equal(await cache.get(key), null);
  await cache.put(key, features);
  const got = await cache.get(key);
  assert.ok(got);
  assert.equal(got.rows, 2);
  assert.equal(got.cols, 3);
  assert.deepEqual(
    new Uint8Array(got.data.buffer, got.data.byteOffset, 48),
    new Uint8Array(features.data.buffer),
  );
  const changes: Partial<FeatureCacheKey>[] = [
    { data: 'b'.repeat(64) },
    { split: 'train' },
    { extractor: 'vggface:fc6' },
    { weightsSha256: 'c'.repeat(64) },
    { protocol: 3 },
  ];
  for (const change of changes)
    assert.equal(await cache.get({ ...key, ...change }), null, JSON.stringify(change));
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('fidlab-features-')),
    [],
    'scratch cleaned',
  );
});

test('a corrupted cache entry is an error naming the artifact, not a silent value', async () => {
  const root = join(dir, 'root2');
  const cache = new ArtifactFeatureCache(await openArtifactStore(root), dir);
  await cache.put(key, features);
  const [npy] = readdirSync(join(root, 'features')).filter((f) => f.endsWith('.npy'));
  writeFileSync(join(root, 'features', npy), 'not the features');
  await assert.rejects(cache.get(key), (e: FidlabError) => {
    assert.equal(e.code, ErrorCode.ARTIFACT_MISMATCH);
    assert.match(e.message, new RegExp(`features/${npy.replace('.', '\\.')}: sha256 mismatch`));
    return true;
  });
});
