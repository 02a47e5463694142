import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openArtifactStore } from '@fidlab/base';
import { synthDataset } from '@fidlab/datasets';
import { selectBackend } from '@fidlab/models';
import { tempDir, tinyCheckpointInProcess } from '@fidlab/testing';
import { train } from '@fidlab/training';
import {
  ArtifactFeatureCache,
  dataSpec,
  Evaluator,
  metricSpec,
  type DataSpec,
  type FeatureCache,
  type FeatureCacheKey,
  type FeatureMatrix,
  type MetricValue,
  type ResolvedMetric,
} from '../src/index.js';

// Ground-truth features shared through a FeatureCache must give the very values the evaluator
// computes without one, and a second evaluator must take them from the cache.

const dir = tempDir({ after }, 'fidlab-feature-cache-eval-');
let data: DataSpec;
let checkpoint = '';

before(async () => {
  await selectBackend({ backend: 'wasm' });
  const tiny = await tinyCheckpointInProcess(
    dir,
    { synthDataset, train },
    { identities: 3, perIdentity: 3, testFraction: 0.25 },
  );
  data = dataSpec.parse({ root: tiny.data, size: 32 });
  checkpoint = tiny.checkpoint;
});

const metrics: ResolvedMetric[] = [
  { name: 'fid_fr', kind: 'fid', extractor: 'facerec', bootstrap: 10 },
  { name: 'kid_fr', kind: 'kid', extractor: 'facerec' },
  { name: 'rank_fr', kind: 'rank-k', extractor: 'facerec', k: [1, 2] },
].map((m) => ({ spec: metricSpec.parse(m), extractor: 'facerec' }));

/** Counts what goes through a cache. */
class Counting implements FeatureCache {
  hits = 0;
  misses = 0;
  puts = 0;
  constructor(private readonly inner: FeatureCache) {}
  async get(key: FeatureCacheKey) {
    const r = await this.inner.get(key);
    if (r) this.hits++;
    else this.misses++;
    return r;
  }
  async put(key: FeatureCacheKey, f: FeatureMatrix) {
    this.puts++;
    await this.inner.put(key, f);
  }
}

async function evaluate(cache?: FeatureCache, maxImages?: number): Promise<MetricValue[]> {
  const e = new Evaluator(data, 'test', 'photo2sketch', maxImages, cache);
  try {
    return await e.evaluate({
      checkpointDir: checkpoint,
      data,
      split: 'test',
      direction: 'photo2sketch',
      metrics,
      maxImages,
      samples: 0,
    });
  } finally {
    e.dispose();
  }
}

/** Every number equal bit for bit (Object.is: -0 and NaN too). */
function assertBitIdentical(a: MetricValue[], b: MetricValue[]) {
  assert.equal(JSON.stringify(a.map((v) => v.name)), JSON.stringify(b.map((v) => v.name)));
  for (const [i, v] of a.entries())
    for (const k of ['value', 'ciLow', 'ciHigh'] as const)
      assert.ok(Object.is(v[k], b[i][k]), `${v.name}.${k}: ${v[k]} vs ${b[i][k]}`);
  assert.deepEqual(a, b);
}

test('metric values are bit-identical with and without the feature cache', async () => {
  const plain = await evaluate();
  assert.ok(plain.length >= 4, `${plain.length} values`);
  const cache = new Counting(
    new ArtifactFeatureCache(await openArtifactStore(join(dir, 'artifacts')), dir),
  );
  const cold = await evaluate(cache);
  assert.deepEqual([cache.hits, cache.misses, cache.puts], [0, 1, 1], 'first: miss, computed, put');
  const warm = await evaluate(cache);
  assert.deepEqual([cache.hits, cache.misses, cache.puts], [1, 1, 1], 'second evaluator: a hit');
  assertBitIdentical(cold, plain);
  assertBitIdentical(warm, plain);

  // Other ground truth (fewer images) is another key: a miss, never the cached features.
  const fewer = await evaluate(cache, 2);
  assert.deepEqual([cache.hits, cache.misses, cache.puts], [1, 2, 2]);
  assertBitIdentical(fewer, await evaluate(undefined, 2));
});
