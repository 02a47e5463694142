// One behavioural suite run against both databases (PGlite and PostgreSQL): the store must
// behave identically on each.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FidlabError } from '@fidlab/base';
import { METRIC_CHUNK_ROWS, type Store } from '../src/index.js';

export function storeSuite(
  label: string,
  open: () => Promise<Store | string>,
  cleanup: () => Promise<void> = async () => undefined,
): void {
  describe(`store on ${label}`, () => {
    let store: Store;
    let skip: string | undefined;
    before(async () => {
      const s = await open();
      if (typeof s === 'string') skip = s;
      else store = s;
    });
    after(async () => {
      await store?.close();
      await cleanup();
    });

    const t = (name: string, fn: () => Promise<void>) =>
      it(name, async (ctx) => {
        if (skip) return ctx.skip(skip);
        await fn();
      });

    t('upserts a sweep by name and runs by key, without duplicates', async () => {
      const s1 = await store.upsertSweep({ name: 'alpha', spec: { a: 1 } });
      const s2 = await store.upsertSweep({ name: 'alpha', spec: { a: 2 }, status: 'running' });
      assert.equal(s1.id, s2.id);
      assert.deepEqual(s2.spec, { a: 2 });
      assert.equal(s2.status, 'running');
      const r1 = await store.upsertRun({ sweepId: s1.id, key: 't0', parameters: { lr: 1e-4 } });
      const r2 = await store.upsertRun({ sweepId: s1.id, key: 't0', parameters: { lr: 1e-4 } });
      assert.equal(r1.id, r2.id);
      assert.equal(r1.sweep, 'alpha');
      const hashed = await store.upsertRun({ sweepId: s1.id, parameters: { b: 2, a: 1 } });
      const again = await store.upsertRun({ sweepId: s1.id, parameters: { a: 1, b: 2 } });
      assert.equal(hashed.id, again.id, 'key from parameters hash ignores key order');
      assert.match(hashed.key, /^[0-9a-f]{16}$/);
      const runs = await store.listRuns({ sweep: 'alpha' });
      assert.equal(runs.length, 2);
    });

    t(
      'listUnfinishedRuns: pending and running runs of running sweeps (or of one sweep)',
      async () => {
        const live = await store.upsertSweep({ name: 'unf-live', spec: {}, status: 'running' });
        const over = await store.upsertSweep({ name: 'unf-over', spec: {}, status: 'done' });
        const ids: Record<string, number> = {};
        for (const [key, status] of [
          ['p', 'pending'],
          ['r', 'running'],
          ['d', 'done'],
          ['f', 'failed'],
          ['c', 'cancelled'],
        ] as const) {
          const r = await store.upsertRun({
            sweepId: live.id,
            key,
            parameters: { k: key },
            runDir: `/runs/${key}`,
          });
          if (status !== 'pending') await store.setRunStatus(r.id, status);
          ids[key] = r.id;
        }
        const old = await store.upsertRun({ sweepId: over.id, key: 'p', parameters: {} });
        const all = await store.listUnfinishedRuns();
        const mine = all.filter((r) => r.sweep === 'unf-live');
        assert.deepEqual(mine, [
          {
            id: ids.p,
            sweep: 'unf-live',
            key: 'p',
            status: 'pending',
            attempt: 0,
            parameters: { k: 'p' },
            runDir: '/runs/p',
          },
          {
            id: ids.r,
            sweep: 'unf-live',
            key: 'r',
            status: 'running',
            attempt: 1,
            parameters: { k: 'r' },
            runDir: '/runs/r',
          },
        ]);
        assert.ok(
          !all.some((r) => r.id === old.id),
          'a pending run of a sweep that is not running',
        );
        // Of one named sweep, whatever its status.
        assert.deepEqual(
          (await store.listUnfinishedRuns({ sweep: 'unf-over' })).map((r) => r.id),
          [old.id],
        );
      },
    );

    t('run status moves stamp times, bump attempt and keep the error of failures', async () => {
      const s = await store.upsertSweep({ name: 'status', spec: {} });
      const r = await store.upsertRun({ sweepId: s.id, key: 'x', parameters: {} });
      assert.equal(r.attempt, 0);
      const running = await store.setRunStatus(r.id, 'running', { workerId: 'w1' });
      assert.equal(running.attempt, 1);
      assert.equal(running.workerId, 'w1');
      assert.ok(running.startedAt);
      const failed = await store.setRunStatus(r.id, 'failed', { error: 'NaN loss' });
      assert.equal(failed.error, 'NaN loss');
      assert.ok(failed.finishedAt);
      const again = await store.setRunStatus(r.id, 'running');
      assert.equal(again.attempt, 2);
      assert.equal(again.error, null);
      await assert.rejects(store.setRunStatus(999999, 'done'), FidlabError);
      await assert.rejects(
        store.setRunStatus(r.id, 'bogus' as never),
        (e: unknown) => e instanceof FidlabError && e.code === 'INVALID_INPUT',
      );
    });

    t('re-recording epochs and metrics replaces values and never duplicates rows', async () => {
      const s = await store.upsertSweep({ name: 'idem', spec: {} });
      const r = await store.upsertRun({ sweepId: s.id, key: 'r', parameters: {} });
      const ck = { uri: 'file:///ck/epoch-0001', sha256: 'ab'.repeat(32), bytes: 5_000_000_000 };
      await store.recordEpoch(r.id, { epoch: 1, losses: { g: 1.5 }, checkpoint: ck, seconds: 3 });
      await store.recordEpoch(r.id, { epoch: 1, losses: { g: 1.25 }, checkpoint: ck, seconds: 4 });
      await store.recordMetrics(r.id, 1, [
        { name: 'fid', value: 50, ciLow: 48, ciHigh: 52, extractor: 'inception', n1: 100, n2: 100 },
        { name: 'kid', value: 0.05 },
      ]);
      await store.recordMetrics(r.id, 1, [{ name: 'fid', value: 40, extra: { note: 'rerun' } }]);
      const epochs = await store.runEpochs(r.id);
      assert.equal(epochs.length, 1);
      assert.deepEqual(epochs[0].losses, { g: 1.25 });
      assert.equal(epochs[0].seconds, 4);
      assert.deepEqual(epochs[0].checkpoint, ck);
      assert.deepEqual(epochs[0].metrics, { fid: 40, kid: 0.05 });
      assert.deepEqual(epochs[0].details.fid.extra, { note: 'rerun' });
      assert.equal(epochs[0].details.fid.ciLow, null, 're-record replaces the whole record');
      const count = await store.prisma.metricValue.count({ where: { runId: r.id } });
      assert.equal(count, 2);
      const best = await store.best({ run: r.id, metric: 'fid' });
      assert.equal(best?.value, 40, 'summary follows a replaced value');
    });

    t('best within a sweep by parameters (where), numbers and strings alike', async () => {
      const s = await store.upsertSweep({ name: 'where', spec: {} });
      const runs = [
        { key: 'u1', parameters: { model: 'unet', lr: 0.0002, seed: 1 }, fid: 5 },
        { key: 'u2', parameters: { model: 'unet', lr: 0.0001, seed: 2 }, fid: 3 },
        { key: 'v1', parameters: { model: 'vae', lr: 0.0002, seed: 1 }, fid: 4 },
      ];
      for (const r of runs) {
        const row = await store.upsertRun({ sweepId: s.id, key: r.key, parameters: r.parameters });
        await store.recordMetrics(row.id, 1, [{ name: 'fid_where', value: r.fid }]);
      }
      const run = async (where?: Record<string, string | number>) =>
        (await store.best({ sweep: 'where', metric: 'fid_where', ...(where ? { where } : {}) }))
          ?.run;
      assert.equal(await run(), 'u2');
      assert.equal(await run({ model: 'vae' }), 'v1');
      assert.equal(await run({ lr: 0.0002 }), 'v1');
      assert.equal(await run({ lr: 0.0002, model: 'unet' }), 'u1');
      assert.equal(await run({ model: 'vae', seed: 1 }), 'v1');
      assert.equal(await run({ model: 'unet-noskip' }), undefined);
      await assert.rejects(
        store.best({ sweep: 'where', metric: 'fid_where', where: { lr: NaN } }),
        /where\.lr must be a string or a finite number/,
      );
    });

    t('a value replaced by a worse one moves the best, in both directions', async () => {
      const s = await store.upsertSweep({ name: 'worse', spec: {} });
      const a = await store.upsertRun({ sweepId: s.id, key: 'a', parameters: {} });
      const b = await store.upsertRun({ sweepId: s.id, key: 'b', parameters: {} });
      for (const [e, v] of [30, 20, 25].entries()) {
        await store.recordEpoch(a.id, { epoch: e + 1, checkpoint: { uri: `ck/a/${e + 1}` } });
        await store.recordMetrics(a.id, e + 1, [{ name: 'fid', value: v }]);
      }
      await store.recordMetrics(b.id, 1, [{ name: 'fid', value: 22 }]);
      assert.deepEqual(
        [
          (await store.best({ sweep: 'worse', metric: 'fid' }))?.run,
          (await store.best({ run: a.id, metric: 'fid' }))?.epoch,
        ],
        ['a', 2],
      );
      // Re-evaluation replaces epoch 2's 20 (the best) by 40: worse than every other value.
      await store.recordMetrics(a.id, 2, [{ name: 'fid', value: 40 }]);
      const runA = await store.best({ run: a.id, metric: 'fid' });
      assert.deepEqual([runA?.epoch, runA?.value, runA?.checkpoint], [3, 25, 'ck/a/3']);
      const max = await store.best({ run: a.id, metric: 'fid', goal: 'max' });
      assert.deepEqual([max?.epoch, max?.value], [2, 40]);
      const sweepBest = await store.best({ sweep: 'worse', metric: 'fid' });
      assert.deepEqual([sweepBest?.run, sweepBest?.value], ['b', 22], 'the other run is best now');
      const [ra] = await store.listRuns({ sweep: 'worse' });
      assert.deepEqual(ra.best.fid, { min: 25, minEpoch: 3, max: 40, maxEpoch: 2 });
      assert.equal(ra.last.fid, 25);
      // The latest epoch replaced by a worse value too: last follows, min moves back to none of it.
      await store.recordMetrics(a.id, 3, [{ name: 'fid', value: 50 }]);
      const [rb] = await store.listRuns({ sweep: 'worse' });
      assert.deepEqual(rb.best.fid, { min: 30, minEpoch: 1, max: 50, maxEpoch: 3 });
      assert.equal(rb.last.fid, 50);
      const summary = await store.prisma.runBest.findUnique({
        where: { runId_name: { runId: a.id, name: 'fid' } },
      });
      assert.equal(summary?.count, 3, 'replacements are not counted as new values');
    });

    t(
      'evaluation protocols: absent is 1; listed per value, per run, with best and correlate',
      async () => {
        const s = await store.upsertSweep({ name: 'protocols', spec: {} });
        const r = await store.upsertRun({ sweepId: s.id, key: 'r', parameters: {} });
        // Epoch 1 as an older evaluator wrote it (no protocol), epochs 2-3 with protocol 2.
        await store.recordMetrics(r.id, 1, [
          { name: 'fid', value: 10, extra: { method: 'lowrank' } },
          { name: 'rank1', value: 0.5 },
        ]);
        await store.recordMetrics(r.id, 2, [
          { name: 'fid', value: 12, extra: { method: 'lowrank', protocol: 2 } },
          { name: 'rank1', value: 0.6, extra: { protocol: 2 } },
        ]);
        await store.recordMetrics(r.id, 3, [
          { name: 'fid', value: 11, extra: { protocol: 2 } },
          { name: 'rank1', value: 0.7, extra: { protocol: 2 } },
        ]);
        const epochs = await store.runEpochs(r.id);
        assert.deepEqual(
          epochs.map((e) => e.protocols),
          [
            { fid: 1, rank1: 1 },
            { fid: 2, rank1: 2 },
            { fid: 2, rank1: 2 },
          ],
        );
        let [run] = await store.listRuns({ sweep: 'protocols' });
        assert.deepEqual(run.protocols, { fid: [1, 2], rank1: [1, 2] });
        assert.deepEqual(run.lastProtocol, { fid: 2, rank1: 2 });
        const best = await store.best({ run: r.id, metric: 'fid' });
        assert.deepEqual(
          [best?.epoch, best?.protocol, best?.protocols],
          [1, 1, { fid: 1, rank1: 1 }],
        );
        const top = await store.best({ run: r.id, metric: 'rank1', goal: 'max' });
        assert.deepEqual([top?.epoch, top?.protocol], [3, 2]);
        const corr = await store.correlationPoints({ sweep: 'protocols', a: 'fid', b: 'rank1' });
        assert.deepEqual(
          corr.points.map((p) => [p.epoch, p.protocolA, p.protocolB]),
          [
            [1, 1, 1],
            [2, 2, 2],
            [3, 2, 2],
          ],
        );
        // Re-recording epoch 1 under protocol 2 makes the curve uniform.
        await store.recordMetrics(r.id, 1, [
          { name: 'fid', value: 13, extra: { protocol: 2 } },
          { name: 'rank1', value: 0.4, extra: { protocol: 2 } },
        ]);
        [run] = await store.listRuns({ sweep: 'protocols' });
        assert.deepEqual(run.protocols, { fid: [2], rank1: [2] });
        assert.equal((await store.best({ run: r.id, metric: 'fid' }))?.protocol, 2);
        // A protocol that is not a positive integer is refused, naming the value.
        for (const bad of [0, 1.5, '2', -1]) {
          await assert.rejects(
            store.recordMetrics(r.id, 4, [{ name: 'fid', value: 1, extra: { protocol: bad } }]),
            (e: unknown) =>
              e instanceof FidlabError &&
              e.code === 'INVALID_INPUT' &&
              e.message.includes(
                'metric fid at epoch 4: extra.protocol must be a positive integer',
              ),
          );
        }
        // A row written around the store with a malformed protocol reads as 1, in SQL as in JS.
        await store.prisma.metricValue.create({
          data: { runId: r.id, epoch: 5, name: 'fid', value: 9, extra: { protocol: 'v2' } },
        });
        // run_best (where listRuns reads protocols) is recomputed from every value of the
        // metric on its next write through the store: epoch 3 re-recorded as it was.
        await store.recordMetrics(r.id, 3, [{ name: 'fid', value: 11, extra: { protocol: 2 } }]);
        [run] = await store.listRuns({ sweep: 'protocols' });
        assert.deepEqual(run.protocols.fid, [1, 2]);
        assert.equal(run.lastProtocol.fid, 1);
        assert.equal((await store.runEpochs(r.id)).at(-1)?.protocols.fid, 1);
      },
    );

    t('rejects non-finite values and unknown runs with FidlabError', async () => {
      const s = await store.upsertSweep({ name: 'bad', spec: {} });
      const r = await store.upsertRun({ sweepId: s.id, key: 'r', parameters: {} });
      await assert.rejects(
        store.recordMetrics(r.id, 1, [{ name: 'fid', value: Number.NaN }]),
        (e: unknown) => e instanceof FidlabError && e.code === 'NOT_FINITE',
      );
      await assert.rejects(
        store.recordMetrics(987654, 1, [{ name: 'fid', value: 1 }]),
        (e: unknown) => e instanceof FidlabError && e.code === 'NOT_FOUND',
      );
      await assert.rejects(
        store.recordEpoch(987654, { epoch: 1 }),
        (e: unknown) => e instanceof FidlabError && e.code === 'NOT_FOUND',
      );
      await assert.rejects(
        store.best({ sweep: 'no-such-sweep', metric: 'fid' }),
        (e: unknown) => e instanceof FidlabError && /no-such-sweep/.test(e.message),
      );
    });

    t('best by min and max over run, sweep and all, with every metric at that epoch', async () => {
      const s = await store.upsertSweep({ name: 'bestsweep', spec: {} });
      const other = await store.upsertSweep({ name: 'othersweep', spec: {} });
      const a = await store.upsertRun({ sweepId: s.id, key: 'a', parameters: { m: 'unet' } });
      const b = await store.upsertRun({ sweepId: s.id, key: 'b', parameters: { m: 'vae' } });
      const c = await store.upsertRun({ sweepId: other.id, key: 'c', parameters: {} });
      const fidA = [30, 20, 25];
      const fidB = [28, 22, 21];
      for (let e = 1; e <= 3; e++) {
        for (const [run, fid] of [
          [a, fidA[e - 1]],
          [b, fidB[e - 1]],
        ] as const) {
          await store.recordEpoch(run.id, {
            epoch: e,
            losses: { g: 1 / e },
            checkpoint: { uri: `ck/${run.key}/${e}`, sha256: null, bytes: 10 },
          });
          await store.recordMetrics(run.id, e, [
            { name: 'fid', value: fid },
            { name: 'rank1', value: fid / 100 },
          ]);
        }
      }
      await store.recordMetrics(c.id, 1, [{ name: 'fid', value: 5 }]);
      const best = await store.best({ sweep: 'bestsweep', metric: 'fid', goal: 'min' });
      assert.deepEqual(
        { run: best?.run, epoch: best?.epoch, value: best?.value, checkpoint: best?.checkpoint },
        { run: 'a', epoch: 2, value: 20, checkpoint: 'ck/a/2' },
      );
      assert.deepEqual(best?.metrics, { fid: 20, rank1: 0.2 });
      assert.deepEqual(best?.parameters, { m: 'unet' });
      const worst = await store.best({ sweep: 'bestsweep', metric: 'fid', goal: 'max' });
      assert.equal(worst?.value, 30);
      assert.equal(worst?.epoch, 1);
      const runB = await store.best({ run: b.id, metric: 'fid' });
      assert.equal(runB?.epoch, 3);
      const all = await store.best({ metric: 'fid' });
      assert.equal(all?.run, 'c');
      assert.equal(all?.checkpoint, null, 'no epoch row recorded: no checkpoint');
      assert.equal(await store.best({ sweep: 'bestsweep', metric: 'nope' }), null);
      assert.deepEqual(await store.metricNames({ sweep: 'bestsweep' }), ['fid', 'rank1']);
      const runs = await store.listRuns({ sweep: 'bestsweep' });
      assert.deepEqual(
        runs.map((r) => [r.key, r.lastEpoch, r.last.fid, r.best.fid.min]),
        [
          ['a', 3, 25, 20],
          ['b', 3, 21, 21],
        ],
      );
      // The store returns the points only (fid-core correlates them, in the api).
      const corr = await store.correlationPoints({ sweep: 'bestsweep', a: 'fid', b: 'rank1' });
      assert.deepEqual(
        corr.points.map((p) => [p.run, p.epoch, p.a, p.b, p.recipeA, p.recipeB]),
        [
          ['a', 1, 30, 0.3, null, null],
          ['a', 2, 20, 0.2, null, null],
          ['a', 3, 25, 0.25, null, null],
          ['b', 1, 28, 0.28, null, null],
          ['b', 2, 22, 0.22, null, null],
          ['b', 3, 21, 0.21, null, null],
        ],
      );
      // values recorded without a recipe are comparable with nothing
      assert.equal(best?.comparable, false);
      assert.equal(best?.recipe, null);
    });

    t('recipes: best says whether it was chosen among values of one recipe', async () => {
      const s = await store.upsertSweep({ name: 'recipes', spec: {} });
      const a = await store.upsertRun({ sweepId: s.id, key: 'a', parameters: {} });
      const b = await store.upsertRun({ sweepId: s.id, key: 'b', parameters: {} });
      const recipe = { kind: 'fid', bootstrap: 0, seed: null, protocol: 2 };
      const other = { ...recipe, bootstrap: 50, seed: 0 };
      for (let e = 1; e <= 3; e++)
        for (const run of [a, b])
          await store.recordMetrics(run.id, e, [
            { name: 'fid', value: 10 * run.id + e, extra: { protocol: 2, recipe } },
            { name: 'kid', value: e, extra: { protocol: 2 } },
          ]);
      let best = await store.best({ sweep: 'recipes', metric: 'fid' });
      assert.deepEqual(
        [best?.run, best?.epoch, best?.recipe, best?.comparable],
        ['a', 1, recipe, true],
      );
      assert.deepEqual(best?.recipes, { fid: recipe, kid: null });
      assert.equal((await store.best({ sweep: 'recipes', metric: 'kid' }))?.comparable, false);
      // one value of run b under another recipe: the sweep's fid values are no longer comparable,
      // run a's still are
      await store.recordMetrics(b.id, 3, [
        { name: 'fid', value: 1, extra: { protocol: 2, recipe: other } },
      ]);
      best = await store.best({ sweep: 'recipes', metric: 'fid' });
      assert.deepEqual([best?.run, best?.epoch, best?.comparable], ['b', 3, false]);
      assert.equal((await store.best({ run: a.id, metric: 'fid' }))?.comparable, true);
      // replaced again: comparable again (run_best keeps the distinct recipes current)
      await store.recordMetrics(b.id, 3, [
        { name: 'fid', value: 1, extra: { protocol: 2, recipe } },
      ]);
      assert.equal((await store.best({ sweep: 'recipes', metric: 'fid' }))?.comparable, true);
      const corr = await store.correlationPoints({ sweep: 'recipes', a: 'fid', b: 'kid' });
      assert.deepEqual(corr.points[0].recipeA, recipe);
      assert.equal(corr.points[0].recipeB, null);
    });

    t('metric batches larger than the bind-parameter limit are chunked', async () => {
      const s = await store.upsertSweep({ name: 'bulk', spec: {} });
      const runs = [];
      for (let i = 0; i < 5; i++)
        runs.push(await store.upsertRun({ sweepId: s.id, key: `r${i}`, parameters: { i } }));
      const rows = [];
      for (const r of runs)
        for (let e = 0; e < 100; e++)
          for (let m = 0; m < 10; m++)
            rows.push({
              runId: r.id,
              epoch: e,
              name: `m${m}`,
              value: (e * 7 + m * 13 + r.id) % 101,
            });
      assert.ok(rows.length > METRIC_CHUNK_ROWS, 'the batch spans several chunks');
      assert.equal(await store.recordMetricRows(rows), 5000);
      assert.equal(await store.recordMetricRows(rows), 5000);
      const count = await store.prisma.metricValue.count({ where: { run: { sweepId: s.id } } });
      assert.equal(count, 5000);
      // The summary agrees with a brute-force scan.
      const bruteMin = Math.min(...rows.filter((r) => r.name === 'm3').map((r) => r.value));
      const best = await store.best({ sweep: 'bulk', metric: 'm3' });
      assert.equal(best?.value, bruteMin);
      assert.equal(Object.keys(best?.metrics ?? {}).length, 10);
      const epochRows = runs.flatMap((r) =>
        Array.from({ length: 100 }, (_, e) => ({
          runId: r.id,
          epoch: e,
          losses: { g: e },
          checkpoint: { uri: `ck/${r.key}/${e}`, sha256: null, bytes: e },
        })),
      );
      assert.equal(await store.recordEpochRows(epochRows), 500);
      assert.equal(await store.recordEpochRows(epochRows), 500);
      assert.equal(await store.prisma.epoch.count({ where: { run: { sweepId: s.id } } }), 500);
      const withCk = await store.best({ sweep: 'bulk', metric: 'm3' });
      assert.equal(withCk?.checkpoint, `ck/${withCk?.run}/${withCk?.epoch}`);
    });

    t('cancel marks the sweep and its unfinished runs', async () => {
      const s = await store.upsertSweep({ name: 'cancel-me', spec: {} });
      const r1 = await store.upsertRun({ sweepId: s.id, key: '1', parameters: {} });
      const r2 = await store.upsertRun({ sweepId: s.id, key: '2', parameters: {} });
      await store.setRunStatus(r1.id, 'done');
      await store.setRunStatus(r2.id, 'running');
      const res = await store.cancelSweep('cancel-me');
      assert.equal(res.cancelledRuns, 1);
      assert.equal(res.sweep.status, 'cancelled');
      assert.equal((await store.getRun(r1.id))?.status, 'done');
      assert.equal((await store.getRun(r2.id))?.status, 'cancelled');
      const list = await store.listSweeps();
      const mine = list.find((x) => x.name === 'cancel-me');
      assert.deepEqual(mine?.runs, { done: 1, cancelled: 1 });
    });

    t('tokens are stored hashed, verified and revoked', async () => {
      const token = await store.createToken('ci');
      assert.match(token, /^fidlab_/);
      assert.equal(await store.verifyToken(token), 'ci');
      assert.equal(await store.verifyToken(token + 'x'), null);
      const row = await store.prisma.apiToken.findUnique({ where: { name: 'ci' } });
      assert.notEqual(row?.hash, token);
      assert.equal(row?.hash.length, 64);
      await assert.rejects(store.createToken('ci'), FidlabError);
      assert.equal(await store.revokeToken('ci'), true);
      assert.equal(await store.verifyToken(token), null);
    });

    t('workers register and list', async () => {
      await store.registerWorker({ id: 'w-a', hostname: 'h', pid: 42, info: { cores: 2 } });
      await store.heartbeat('w-a', 'busy');
      const ws = await store.listWorkers();
      assert.equal(ws.find((w) => w.id === 'w-a')?.status, 'busy');
    });
    const staleClaim = (e: unknown) => e instanceof FidlabError && e.code === 'STALE_CLAIM';

    t(
      'a claim bumps the generation; a live claim of another worker is refused unless stolen',
      async () => {
        const s = await store.upsertSweep({ name: 'claims-a', spec: {} });
        const run = await store.upsertRun({ sweepId: s.id, key: 'r', parameters: {} });
        await store.registerWorker({ id: 'claim-w1', hostname: 'h' });
        await store.registerWorker({ id: 'claim-w2', hostname: 'h' });
        const a = await store.claimRun(run.id, 'claim-w1');
        assert.deepEqual(a, { runId: run.id, workerId: 'claim-w1', generation: 1 });
        assert.equal((await store.getRun(run.id))?.claimedBy, 'claim-w1');
        assert.equal(await store.claimRun(run.id, 'claim-w2'), null, 'w1 is live: refused');
        const b = await store.claimRun(run.id, 'claim-w2', { steal: true });
        assert.deepEqual(b, { runId: run.id, workerId: 'claim-w2', generation: 2 });
        // w2's heartbeat is fresh, but not within a 0 ms bound: its claim counts as dead then.
        const c = await store.claimRun(run.id, 'claim-w1', { liveMs: 0 });
        assert.equal(c?.generation, 3);
        // A released claim leaves the run free for anyone; an unregistered holder counts as dead.
        await store.releaseClaim(c!);
        assert.equal((await store.getRun(run.id))?.claimedBy, null);
        const d = await store.claimRun(run.id, 'claim-nobody');
        assert.equal(d?.generation, 4);
        assert.equal((await store.claimRun(run.id, 'claim-w2'))?.generation, 5);
        await assert.rejects(store.claimRun(999_999, 'claim-w1'), /no run with id 999999/);
      },
    );

    t('writes under a stale claim cannot overwrite its successor (fencing)', async () => {
      const s = await store.upsertSweep({ name: 'claims-b', spec: {} });
      const run = await store.upsertRun({ sweepId: s.id, key: 'r', parameters: {} });
      await store.registerWorker({ id: 'fence-old', hostname: 'h' });
      await store.registerWorker({ id: 'fence-new', hostname: 'h' });
      const old = (await store.claimRun(run.id, 'fence-old'))!;
      await store.recordEpoch(run.id, { epoch: 1, losses: { g: 1 } }, old);
      await store.recordMetrics(run.id, 1, [{ name: 'fid', value: 10 }], old);
      await store.setRunStatus(run.id, 'running', { claim: old });
      const next = (await store.claimRun(run.id, 'fence-new', { steal: true }))!;
      await store.recordEpoch(run.id, { epoch: 1, losses: { g: 2 } }, next);
      await store.recordMetrics(run.id, 1, [{ name: 'fid', value: 20 }], next);
      await assert.rejects(
        store.recordEpoch(run.id, { epoch: 1, losses: { g: 3 } }, old),
        staleClaim,
      );
      await assert.rejects(
        store.recordEpoch(run.id, { epoch: 2, losses: { g: 3 } }, old),
        staleClaim,
      );
      await assert.rejects(
        store.recordMetrics(run.id, 1, [{ name: 'fid', value: 30 }], old),
        staleClaim,
      );
      await assert.rejects(store.setRunStatus(run.id, 'failed', { claim: old }), staleClaim);
      const samples = { uri: 'nats-obj://b/samples/x/', sha256: 'a'.repeat(64) };
      await assert.rejects(store.recordSamples(run.id, 1, samples, old), staleClaim);
      await store.recordSamples(run.id, 1, samples, next);
      await assert.rejects(
        store.recordSamples(run.id, 9, samples, next),
        /no epoch 9 recorded for run/,
      );
      await assert.rejects(
        store.recordSamples(run.id, 1, { uri: 'nats-obj://b/s/' }, next),
        /an artifact URI and its sha256 are required/,
      );
      await assert.rejects(
        store.recordEpoch(run.id + 1, { epoch: 1 }, next),
        /cannot write to run/,
      );
      const epochs = await store.runEpochs(run.id);
      assert.deepEqual(
        epochs.map((e) => [e.epoch, e.losses, e.metrics]),
        [[1, { g: 2 }, { fid: 20 }]],
        "the successor's rows stand, and the stale epoch 2 was not written",
      );
      assert.deepEqual(epochs[0].samples, { ...samples, bytes: null });
      // A trainer re-recording the epoch (a resume) keeps its samples.
      await store.recordEpoch(run.id, { epoch: 1, losses: { g: 2 } }, next);
      assert.equal((await store.runEpochs(run.id))[0].samples?.uri, samples.uri);
      assert.equal((await store.getRun(run.id))?.status, 'running');
      const best = await store.best({ run: run.id, metric: 'fid' });
      assert.equal(best?.value, 20, 'run_best was not refreshed by the refused write');
      await store.setRunStatus(run.id, 'done', { claim: next });
      assert.equal((await store.getRun(run.id))?.status, 'done');
    });

    t('concurrent claimers of one run get exactly one winner', async () => {
      const s = await store.upsertSweep({ name: 'claims-c', spec: {} });
      const workers = Array.from({ length: 8 }, (_, i) => `race-${i}`);
      for (const id of workers) await store.registerWorker({ id, hostname: 'h' });
      for (let round = 0; round < 3; round++) {
        const run = await store.upsertRun({ sweepId: s.id, key: `r${round}`, parameters: {} });
        const got = await Promise.all(workers.map((w) => store.claimRun(run.id, w)));
        const winners = got.filter((c) => c !== null);
        assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(got)}`);
        assert.equal(winners[0]!.generation, 1);
        assert.equal((await store.getRun(run.id))?.claimedBy, winners[0]!.workerId);
      }
    });
  });
}
