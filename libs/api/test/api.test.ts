// The API over real HTTP on a free port, called with @trpc/client (batch link + SSE).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TRPCClientError } from '@trpc/client';
import { EventSource } from 'eventsource';
import { correlate } from '@fidlab/fid-core';
import { recipeId } from '@fidlab/features/recipe';
import { openStore, type JsonValue, type Store } from '@fidlab/store';
import { createApiClient, createApiServer, type ApiClient, type ApiServer } from '../src/index.js';

function rejectsWith(code: string, fidlabCode?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof TRPCClientError, `expected TRPCClientError, got ${String(e)}`);
    const data = e.data as { code?: string; fidlabCode?: string | null; stack?: string };
    assert.equal(data?.code, code, e.message);
    assert.equal(data.stack, undefined, 'no server stack traces in answers');
    if (fidlabCode !== undefined) assert.equal(data.fidlabCode, fidlabCode);
    return true;
  };
}

async function seed(store: Store): Promise<void> {
  const s = await store.upsertSweep({ name: 'gen', spec: { method: 'grid' } });
  for (const [key, fids] of [
    ['unet', [40, 30, 35]],
    ['vae', [50, 45, 44]],
  ] as const) {
    const r = await store.upsertRun({ sweepId: s.id, key, parameters: { model: key } });
    for (let e = 1; e <= 3; e++) {
      await store.recordEpoch(r.id, {
        epoch: e,
        losses: { g: 1 / e },
        checkpoint: { uri: `runs/${key}/epoch-${e}`, sha256: 'f'.repeat(64), bytes: 123 },
        seconds: 1,
      });
      await store.recordMetrics(r.id, e, [
        {
          name: 'fid_inception',
          value: fids[e - 1],
          ciLow: fids[e - 1] - 1,
          ciHigh: fids[e - 1] + 1,
        },
        { name: 'rank1', value: 1 - fids[e - 1] / 100 },
      ]);
    }
  }
}

describe('api over HTTP', () => {
  let store: Store;
  let server: ApiServer;
  let token: string;
  let anon: ApiClient;
  let authed: ApiClient;

  before(async () => {
    store = await openStore({ url: 'memory:' });
    await seed(store);
    token = await store.createToken('test');
    server = await createApiServer({ store, port: 0, pollMs: 100 });
    anon = createApiClient({ url: server.url });
    authed = createApiClient({ url: server.url, token, EventSource });
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  it('rejects reads and writes without a token, and with a wrong one', async () => {
    await assert.rejects(anon.sweeps.list.query(), rejectsWith('UNAUTHORIZED'));
    await assert.rejects(
      anon.sweeps.create.mutate({ name: 'x', spec: {} }),
      rejectsWith('UNAUTHORIZED'),
    );
    const wrong = createApiClient({ url: server.url, token: token + 'x' });
    await assert.rejects(wrong.runs.list.query({}), rejectsWith('UNAUTHORIZED'));
  });

  it('runs.best returns the best epoch with its checkpoint and every metric at it', async () => {
    const best = await authed.runs.best.query({ sweep: 'gen', metric: 'fid_inception' });
    assert.equal(best?.run, 'unet');
    assert.equal(best?.epoch, 2);
    assert.equal(best?.value, 30);
    assert.equal(best?.checkpoint, 'runs/unet/epoch-2');
    assert.deepEqual(best?.metrics, { fid_inception: 30, rank1: 0.7 });
    const max = await authed.runs.best.query({
      scope: 'sweep',
      sweep: 'gen',
      metric: 'rank1',
      goal: 'max',
    });
    assert.equal(max?.epoch, 2);
    const vae = (await authed.runs.list.query({ sweep: 'gen' })).find((r) => r.key === 'vae')!;
    const runBest = await authed.runs.best.query({
      scope: 'run',
      run: vae.id,
      metric: 'fid_inception',
    });
    assert.equal(runBest?.epoch, 3);
    assert.equal(runBest?.value, 44);
  });

  it('runs.epochs, runs.get, metrics.names, metrics.correlate, sweeps.get, workers.list', async () => {
    const runs = await authed.runs.list.query({ sweep: 'gen' });
    assert.deepEqual(
      runs.map((r) => [r.key, r.lastEpoch, r.best.fid_inception.min]),
      [
        ['unet', 3, 30],
        ['vae', 3, 44],
      ],
    );
    const epochs = await authed.runs.epochs.query({ id: runs[0].id });
    assert.deepEqual(
      epochs.map((e) => e.metrics.fid_inception),
      [40, 30, 35],
    );
    assert.equal(epochs[0].details.fid_inception.ciLow, 39);
    assert.equal((await authed.runs.get.query({ sweep: 'gen', key: 'vae' })).id, runs[1].id);
    assert.deepEqual(await authed.metrics.names.query({ sweep: 'gen' }), [
      'fid_inception',
      'rank1',
    ]);
    const c = await authed.metrics.correlate.query({
      sweep: 'gen',
      a: 'fid_inception',
      b: 'rank1',
    });
    assert.equal(c.n, 6);
    assert.ok(Math.abs((c.pearson ?? 0) + 1) < 1e-12, `pearson ${c.pearson}`);
    assert.equal(c.points.length, 6);
    const g = await authed.sweeps.get.query({ name: 'gen' });
    assert.equal(g.runs.length, 2);
    await store.registerWorker({ id: 'w1', hostname: 'here' });
    assert.deepEqual(
      (await authed.workers.list.query()).map((w) => w.id),
      ['w1'],
    );
  });

  it('every listing of metric values carries their evaluation protocol (absent: 1)', async () => {
    // Epochs 1-2 as an older evaluator left them, epoch 3 re-evaluated under protocol 2.
    const s = await store.upsertSweep({ name: 'proto', spec: {} });
    const r = await store.upsertRun({ sweepId: s.id, key: 'mixed', parameters: {} });
    for (const [e, fid] of [40, 30, 35].entries()) {
      const extra: JsonValue = e === 2 ? { protocol: 2, method: 'lowrank' } : { method: 'lowrank' };
      await store.recordMetrics(r.id, e + 1, [
        { name: 'fid', value: fid, extra },
        { name: 'kid', value: fid / 1000, extra },
      ]);
    }
    const [run] = await authed.runs.list.query({ sweep: 'proto' });
    assert.deepEqual(run.protocols, { fid: [1, 2], kid: [1, 2] });
    assert.deepEqual(run.lastProtocol, { fid: 2, kid: 2 });
    assert.deepEqual(
      (await authed.sweeps.get.query({ name: 'proto' })).runs[0].protocols.fid,
      [1, 2],
    );
    const epochs = await authed.runs.epochs.query({ id: r.id });
    assert.deepEqual(
      epochs.map((e) => e.protocols),
      [
        { fid: 1, kid: 1 },
        { fid: 1, kid: 1 },
        { fid: 2, kid: 2 },
      ],
    );
    const best = await authed.runs.best.query({ sweep: 'proto', metric: 'fid' });
    assert.deepEqual([best?.epoch, best?.protocol, best?.protocols], [2, 1, { fid: 1, kid: 1 }]);
    const worst = await authed.runs.best.query({ run: r.id, metric: 'kid', goal: 'max' });
    assert.deepEqual([worst?.epoch, worst?.protocol], [1, 1]);
    const c = await authed.metrics.correlate.query({ sweep: 'proto', a: 'fid', b: 'kid' });
    assert.deepEqual(
      c.points.map((p) => [p.epoch, p.protocolA, p.protocolB]),
      [
        [1, 1, 1],
        [2, 1, 1],
        [3, 2, 2],
      ],
    );
  });

  it('recipes: ids on every value, comparable flags, correlation by fid-core', async () => {
    const fidRecipe = {
      kind: 'fid',
      bootstrap: 0,
      seed: null,
      extractor: { family: 'facerec', layer: 'embedding' },
      weights_sha256: 'e'.repeat(64),
      resize: { mode: 'pad-square-bilinear', size: 150 },
      protocol: 2,
      data: { split: 'test', max_images: null },
    };
    const kidRecipe = { ...fidRecipe, kind: 'kid', subsets: 100, subset_size: 12, seed: 0 };
    delete (kidRecipe as { bootstrap?: number }).bootstrap;
    const s = await store.upsertSweep({ name: 'recipes', spec: {} });
    const fids = [41.5, 30.25, 35, 29, 33.75, 31];
    for (const key of ['a', 'b']) {
      const r = await store.upsertRun({ sweepId: s.id, key, parameters: {} });
      for (let e = 1; e <= 3; e++) {
        const fid = fids[(key === 'a' ? 0 : 3) + e - 1];
        await store.recordMetrics(r.id, e, [
          { name: 'fid', value: fid, extra: { protocol: 2, recipe: fidRecipe } },
          // run b's last kid value was recorded without a recipe
          {
            name: 'kid',
            value: (fid * fid) / 1e4,
            extra: key === 'b' && e === 3 ? { protocol: 2 } : { protocol: 2, recipe: kidRecipe },
          },
        ]);
      }
    }
    const [a, b] = await authed.runs.list.query({ sweep: 'recipes' });
    const fidId = recipeId(fidRecipe)!;
    const kidId = recipeId(kidRecipe)!;
    const ea = await authed.runs.epochs.query({ id: a.id });
    assert.deepEqual(ea[0].recipes, { fid: fidId, kid: kidId });
    assert.deepEqual(ea[2].comparable, { fid: true, kid: true });
    const eb = await authed.runs.epochs.query({ id: b.id });
    assert.deepEqual(eb[2].recipes, { fid: fidId, kid: null });
    assert.deepEqual(eb[0].comparable, { fid: true, kid: false });

    const best = await authed.runs.best.query({ sweep: 'recipes', metric: 'fid' });
    assert.deepEqual(
      [best?.run, best?.value, best?.recipeId, best?.comparable],
      ['b', 29, fidId, true],
    );
    const bestKid = await authed.runs.best.query({ sweep: 'recipes', metric: 'kid' });
    assert.equal(bestKid?.comparable, false);
    assert.equal((await authed.runs.best.query({ run: a.id, metric: 'kid' }))?.comparable, true);

    // The coefficients are fid-core's over the store's points, bit for bit; the store only
    // returns the points.
    const c = await authed.metrics.correlate.query({ sweep: 'recipes', a: 'fid', b: 'kid' });
    const points = await store.correlationPoints({ sweep: 'recipes', a: 'fid', b: 'kid' });
    const ref = correlate(
      points.points.map((p) => p.a),
      points.points.map((p) => p.b),
    );
    assert.deepEqual(
      [c.n, c.pearson, c.spearman, c.kendall],
      [6, ref.pearson, ref.spearman, ref.kendall],
    );
    assert.equal(c.spearman, 1);
    assert.deepEqual([c.comparable, c.recipeA, c.recipeB], [false, fidId, null]);
    assert.deepEqual(
      c.points.map((p) => [p.run, p.epoch, p.recipeA, p.recipeB]),
      [
        ['a', 1, fidId, kidId],
        ['a', 2, fidId, kidId],
        ['a', 3, fidId, kidId],
        ['b', 1, fidId, kidId],
        ['b', 2, fidId, kidId],
        ['b', 3, fidId, null],
      ],
    );
    const same = await authed.metrics.correlate.query({ sweep: 'recipes', a: 'fid', b: 'fid' });
    assert.deepEqual(
      [same.comparable, same.recipeA, same.recipeB, same.pearson],
      [true, fidId, fidId, 1],
    );
    // too few points: TOO_FEW_SAMPLES from the api as before
    await assert.rejects(
      authed.metrics.correlate.query({ sweep: 'proto', a: 'fid', b: 'nope' }),
      /needs at least 3 epochs with both, found 0/,
    );
  });

  it('maps store errors and bad inputs to codes a client can act on', async () => {
    await assert.rejects(
      authed.runs.best.query({ sweep: 'nope', metric: 'fid_inception' }),
      rejectsWith('NOT_FOUND', 'NOT_FOUND'),
    );
    await assert.rejects(
      authed.runs.best.query({ metric: 'fid', goal: 'median' as 'min' }),
      rejectsWith('BAD_REQUEST'),
    );
    await assert.rejects(
      authed.runs.best.query({ scope: 'run', metric: 'fid' }),
      rejectsWith('BAD_REQUEST'),
    );
    await assert.rejects(authed.runs.epochs.query({ id: 99999 }), rejectsWith('NOT_FOUND'));
    const s = await store.upsertSweep({ name: 'tiny', spec: {} });
    const r = await store.upsertRun({ sweepId: s.id, key: 'a', parameters: {} });
    await store.recordMetrics(r.id, 1, [
      { name: 'a', value: 1 },
      { name: 'b', value: 2 },
    ]);
    await assert.rejects(
      authed.metrics.correlate.query({ sweep: 'tiny', a: 'a', b: 'b' }),
      rejectsWith('PRECONDITION_FAILED', 'TOO_FEW_SAMPLES'),
    );
  });

  it('sweeps.create is idempotent for the same spec, CONFLICT for another; cancel', async () => {
    const spec = {
      name: 'created',
      data: { root: 'data/x', size: 64 },
      parameters: { lr: { values: [1e-4, 2e-4] } },
      fixed: { model: 'unet', epochs: 1, epochs_decay: 0 },
      evaluate: { metrics: [{ name: 'fid', kind: 'fid', extractor: 'facerec' }] },
      select: { metric: 'fid' },
    };
    const input = {
      name: 'created',
      spec,
      runs: [{ parameters: { lr: 1e-4 } }, { parameters: { lr: 2e-4 } }],
    };
    const a = await authed.sweeps.create.mutate(input);
    const b = await authed.sweeps.create.mutate(input);
    assert.equal(a.sweep.id, b.sweep.id);
    assert.deepEqual(
      a.runs.map((r) => r.id),
      b.runs.map((r) => r.id),
    );
    await assert.rejects(
      authed.sweeps.create.mutate({ ...input, spec: { ...spec, method: 'random', count: 2 } }),
      rejectsWith('CONFLICT'),
    );
    const c = await authed.sweeps.cancel.mutate({ name: 'created' });
    assert.equal(c.cancelledRuns, 2);
    assert.equal(c.sweep.status, 'cancelled');
  });

  it('--public-read serves reads without a token but still guards mutations', async () => {
    const open = await createApiServer({ store, port: 0, publicRead: true });
    try {
      const client = createApiClient({ url: open.url });
      assert.ok((await client.sweeps.list.query()).length >= 1);
      await assert.rejects(
        client.sweeps.cancel.mutate({ name: 'gen' }),
        rejectsWith('UNAUTHORIZED'),
      );
    } finally {
      await open.close();
    }
  });

  it('progress subscription streams a snapshot, then each change (SSE)', async () => {
    const s = await store.upsertSweep({ name: 'live', spec: {} });
    const r = await store.upsertRun({ sweepId: s.id, key: 'only', parameters: {} });
    const seen: { lastEpoch: number | null; fid?: number }[] = [];
    let resolveDone!: () => void;
    const done = new Promise<void>((res) => (resolveDone = res));
    const sub = authed.progress.subscribe(
      { sweep: 'live' },
      {
        onData(snap) {
          const run = snap.runs[0];
          seen.push({ lastEpoch: run.lastEpoch, fid: run.last.fid });
          if (seen.length === 1) {
            void store.recordMetrics(r.id, 1, [{ name: 'fid', value: 12 }]);
          } else if (run.last.fid === 12) resolveDone();
        },
        onError(err) {
          assert.fail(err);
        },
      },
    );
    const timeout = setTimeout(() => resolveDone(), 10_000);
    await done;
    clearTimeout(timeout);
    sub.unsubscribe();
    assert.deepEqual(seen[0], { lastEpoch: null, fid: undefined });
    assert.deepEqual(seen.at(-1), { lastEpoch: 1, fid: 12 });
  });

  it('GET /healthz answers', async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.deepEqual(await res.json(), { ok: true, db: 'pglite' });
  });
});
