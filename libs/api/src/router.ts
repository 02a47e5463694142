// The fidlab API: sweeps, runs, metrics, workers and live progress, over the experiment store.
import { once } from 'node:events';
import { TRPCError } from '@trpc/server';
import { canonicalJson, RUN_STATUSES, SWEEP_STATUSES, type Store } from '@fidlab/store';
import { z } from 'zod';
import { bestWithRecipe, correlationOf, epochsWithRecipes } from './recipes.js';
import { readProcedure, router, writeProcedure } from './trpc.js';

const name = z.string().min(1).max(200);
const runId = z.number().int().positive();
const goal = z.enum(['min', 'max']).default('min');
const json = z.json();

const bestInput = z
  .object({
    metric: name,
    goal,
    /** run: one run (needs `run`); sweep: one sweep (needs `sweep`); all: every run stored. */
    scope: z.enum(['run', 'sweep', 'all']).optional(),
    sweep: name.optional(),
    run: runId.optional(),
  })
  .refine((q) => q.scope !== 'run' || q.run !== undefined, {
    message: 'scope run needs run (a run id)',
    path: ['run'],
  })
  .refine((q) => q.scope !== 'sweep' || q.sweep !== undefined, {
    message: 'scope sweep needs sweep (a sweep name)',
    path: ['sweep'],
  });

/** Resolves when the store changes (this process) or after `ms` (other writers), or on abort. */
async function changeOrTimeout(store: Store, ms: number, signal?: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await once(store.events, 'change', { signal: ac.signal });
  } catch {
    // timeout or abort: either way the caller re-reads
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

export const appRouter = router({
  sweeps: router({
    /**
     * Creates a sweep with its trials (idempotent: the same name and spec again is a no-op that
     * returns the sweep; the same name with a different spec is a CONFLICT).
     */
    create: writeProcedure
      .input(
        z.object({
          name,
          spec: z.record(z.string(), json),
          runs: z
            .array(z.object({ key: name.optional(), parameters: z.record(z.string(), json) }))
            .max(100_000)
            .default([]),
        }),
      )
      .mutation(async ({ ctx, input }) => {
        const existing = await ctx.store.getSweep(input.name);
        if (existing && canonicalJson(existing.spec) !== canonicalJson(input.spec)) {
          throw new TRPCError({
            code: 'CONFLICT',
            message: `sweep ${input.name} exists with a different spec`,
          });
        }
        const sweep =
          existing ?? (await ctx.store.upsertSweep({ name: input.name, spec: input.spec }));
        const runs = await ctx.store.createRuns(sweep.id, input.runs);
        return { sweep, runs };
      }),
    list: readProcedure.query(({ ctx }) => ctx.store.listSweeps()),
    get: readProcedure.input(z.object({ name })).query(async ({ ctx, input }) => {
      const sweep = await ctx.store.getSweep(input.name);
      if (!sweep)
        throw new TRPCError({ code: 'NOT_FOUND', message: `no sweep named ${input.name}` });
      return { sweep, runs: await ctx.store.listRuns({ sweep: input.name }) };
    }),
    cancel: writeProcedure
      .input(z.object({ name }))
      .mutation(({ ctx, input }) => ctx.store.cancelSweep(input.name)),
    setStatus: writeProcedure
      .input(z.object({ name, status: z.enum(SWEEP_STATUSES) }))
      .mutation(({ ctx, input }) => ctx.store.setSweepStatus(input.name, input.status)),
  }),
  runs: router({
    list: readProcedure
      .input(
        z.object({ sweep: name.optional(), status: z.enum(RUN_STATUSES).optional() }).default({}),
      )
      .query(({ ctx, input }) => ctx.store.listRuns(input)),
    get: readProcedure
      .input(z.union([z.object({ id: runId }), z.object({ sweep: name, key: name })]))
      .query(async ({ ctx, input }) => {
        const run =
          'id' in input
            ? await ctx.store.getRun(input.id)
            : await ctx.store.findRun(input.sweep, input.key);
        if (!run)
          throw new TRPCError({
            code: 'NOT_FOUND',
            message: `no such run: ${JSON.stringify(input)}`,
          });
        return run;
      }),
    /**
     * Every epoch of a run with all its metrics (for curves), each value's recipe id, and per
     * metric whether the run's values of it are comparable (one recipe).
     */
    epochs: readProcedure.input(z.object({ id: runId })).query(async ({ ctx, input }) => {
      if (!(await ctx.store.getRun(input.id))) {
        throw new TRPCError({ code: 'NOT_FOUND', message: `no run with id ${input.id}` });
      }
      return epochsWithRecipes(await ctx.store.runEpochs(input.id));
    }),
    /**
     * The best epoch by a metric, with its checkpoint and every other metric at that epoch, its
     * recipe (and id), and whether it was chosen among comparable values (`comparable`).
     */
    best: readProcedure.input(bestInput).query(async ({ ctx, input }) => {
      const scope =
        input.scope ??
        (input.run !== undefined ? 'run' : input.sweep !== undefined ? 'sweep' : 'all');
      return bestWithRecipe(
        await ctx.store.best({
          metric: input.metric,
          goal: input.goal,
          ...(scope === 'run'
            ? { run: input.run }
            : scope === 'sweep'
              ? { sweep: input.sweep }
              : {}),
        }),
      );
    }),
  }),
  metrics: router({
    names: readProcedure
      .input(z.object({ sweep: name.optional() }).default({}))
      .query(({ ctx, input }) => ctx.store.metricNames(input)),
    /**
     * Metric a against metric b over the epochs of a sweep: points and three coefficients
     * (fid-core's), with each value's recipe id and whether each axis is comparable.
     */
    correlate: readProcedure
      .input(z.object({ sweep: name, a: name, b: name }))
      .query(async ({ ctx, input }) => correlationOf(await ctx.store.correlationPoints(input))),
  }),
  workers: router({
    list: readProcedure.query(({ ctx }) => ctx.store.listWorkers()),
  }),
  /** Live state of a sweep over SSE: one snapshot now, then one whenever it changes. */
  progress: readProcedure.input(z.object({ sweep: name })).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    let last = '';
    while (!signal?.aborted) {
      const snap = await ctx.store.progress(input.sweep);
      const key = JSON.stringify(snap);
      if (key !== last) {
        last = key;
        yield snap;
      }
      await changeOrTimeout(ctx.store, ctx.pollMs, signal);
    }
  }),
});

export type AppRouter = typeof appRouter;
