import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStore, type Store } from '@fidlab/store';
import { parseSweepText, resolveMetrics } from '../src/index.js';

// `best` references resolved against recorded values (no training): per-model selection with
// `where`, and identity sweeps resolving to `identity:<checkpoint>:<layer>`.

const dir = mkdtempSync(join(tmpdir(), 'fidlab-resolve-'));
let store: Store;

before(async () => {
  store = await openStore({ dir: join(dir, 'db') });
  const ae = await store.upsertSweep({ name: 'ae', spec: { trial: 'pix2pix' } });
  const runs = await store.createRuns(ae.id, [
    { parameters: { model: 'unet', seed: 1 } },
    { parameters: { model: 'vae', seed: 1 } },
  ]);
  // unet's best is 2.0 at epoch 2; vae's is 3.0 at epoch 1 (worse than unet's).
  const values: [number, number, number][] = [
    [0, 1, 5],
    [0, 2, 2],
    [1, 1, 3],
    [1, 2, 4],
  ];
  for (const [r, epoch, v] of values) {
    await store.recordEpoch(runs[r].id, { epoch, checkpoint: { uri: `/ck/${r}/${epoch}` } });
    await store.recordMetrics(runs[r].id, epoch, [{ name: 'fid_x', value: v }]);
  }
  const ids = await store.upsertSweep({ name: 'ids', spec: { trial: 'identity' } });
  const [id] = await store.createRuns(ids.id, [{ parameters: { lr: 1e-7 } }]);
  await store.recordEpoch(id.id, { epoch: 3, checkpoint: { uri: '/id/3' } });
  await store.recordMetrics(id.id, 3, [{ name: 'rank_1', value: 0.9 }]);
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sweep = (metrics: string) =>
  parseSweepText(`name: g
data: { root: /nowhere, size: 32 }
evaluate:
  metrics:
${metrics}
select: { metric: m0 }
`);

test('best references pick per `where`, and identity sweeps give identity extractors', async () => {
  const spec =
    sweep(`    - { name: m0, kind: fid, extractor: { best: { sweep: ae, metric: fid_x }, tap: en2 } }
    - { name: m1, kind: fid, extractor: { best: { sweep: ae, metric: fid_x, where: { model: vae } }, tap: en6, pool: true } }
    - { name: m2, kind: fid, extractor: { best: { sweep: ids, metric: rank_1, goal: max }, tap: fc6 } }`);
  const r = await resolveMetrics(spec, store);
  assert.deepEqual(
    r.map((m) => m.extractor),
    ['generator:/ck/0/2:en2', 'generator:/ck/1/1:en6:avg', 'identity:/id/3:fc6'],
  );
});

test('a `where` that matches no run names the filter', async () => {
  const spec = sweep(
    `    - { name: m0, kind: fid, extractor: { best: { sweep: ae, metric: fid_x, where: { model: unet-noskip } }, tap: en2 } }`,
  );
  await assert.rejects(
    resolveMetrics(spec, store),
    /no values of 'fid_x' among runs with \{"model":"unet-noskip"\}/,
  );
});
