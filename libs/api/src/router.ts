// The fidlab API: sweeps, runs, metrics, workers and live progress, over the experiment store.
import { once } from 'node:events';
import { TRPCError } from '@trpc/server';
import { RUN_STATUSES, SWEEP_STATUSES, type Store } from '@fidlab/store';
import { z } from 'zod';
import { runSamples } from './files.js';
import { bestWithRecipe, correlationOf, epochsWithRecipes } from './recipes.js';
import { publicProcedure, readProcedure, router, writeProcedure } from './trpc.js';

const name = z.string().min(1).max(200);
const runId = z.number().int().positive();
const goal = z.enum(['min', 'max']).default('min');
const json = z.json();
const tags = z.array(z.string()).max(32);
/** A sweep by name, or a run by id. */
const target = z.union([z.object({ sweep: name }), z.object({ run: runId })]);
const toTarget = (t: z.infer<typeof target>) => ('sweep' in t ? t : { runId: t.run });

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

/** A sweep's owner and tags (none recorded: no owner, no tags). */
function labelsOf(l: { owner: string | null; tags: string[] } | undefined) {
  return { owner: l?.owner ?? null, tags: l?.tags ?? [] };
}

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
     * returns the sweep; the same name with a different spec is a CONFLICT unless `replace`).
     * The spec is validated with the sweep file's own schema (and stored as parsed, defaults
     * filled in, as `fidlab run` stores it); run keys and parameters as sweep files allow them.
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
          replace: z.boolean().default(false),
        }),
      )
      .mutation(async ({ ctx, input }) => {
        // Loaded on first use: the sweep schema pulls in the training engine's config types.
        const sweeps = await import('@fidlab/experiments');
        const spec = sweeps.parseSweepSpec(input.spec, 'spec');
        if (spec.name !== input.name) {
          throw new TRPCError({
            code: 'BAD_REQUEST',
            message: `name ${JSON.stringify(input.name)} differs from spec.name ${JSON.stringify(spec.name)}`,
          });
        }
        input.runs.forEach((r, i) => sweeps.checkRunInput(r, `runs[${i}]`));
        const existing = await ctx.store.getSweep(input.name);
        const changes = existing ? sweeps.sweepSpecChanges(existing.spec, spec) : [];
        if (changes.length > 0 && !input.replace) {
          throw new TRPCError({
            code: 'CONFLICT',
            message: sweeps.changedSpecError(input.name, changes, 'send replace: true').message,
          });
        }
        const sweep =
          existing && changes.length === 0
            ? existing
            : await ctx.store.upsertSweep({ name: input.name, spec });
        const runs = await ctx.store.createRuns(sweep.id, input.runs);
        // The token that launched it owns it (writeProcedure guarantees one).
        if (ctx.tokenName !== null) await ctx.store.claimSweepOwner(input.name, ctx.tokenName);
        return { sweep, runs };
      }),
    /** Every sweep with its run counts, owner (who launched it) and tags. */
    list: readProcedure.query(async ({ ctx }) => {
      const [sweeps, labels] = await Promise.all([ctx.store.listSweeps(), ctx.store.listLabels()]);
      return sweeps.map((s) => ({ ...s, ...labelsOf(labels.sweeps[s.name]) }));
    }),
    get: readProcedure.input(z.object({ name })).query(async ({ ctx, input }) => {
      const sweep = await ctx.store.getSweep(input.name);
      if (!sweep)
        throw new TRPCError({ code: 'NOT_FOUND', message: `no sweep named ${input.name}` });
      const [runs, labels] = await Promise.all([
        ctx.store.listRuns({ sweep: input.name }),
        ctx.store.listLabels(),
      ]);
      return {
        sweep: { ...sweep, ...labelsOf(labels.sweeps[sweep.name]) },
        runs: runs.map((r) => ({ ...r, tags: labels.runs[r.id] ?? [] })),
      };
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
     * Sample images of an epoch (the last with samples when none is given) from
     * `<checkpoint>/samples/`, as paths under the run directory for GET /files/runs/<id>/<path>.
     */
    samples: readProcedure
      .input(z.object({ id: runId, epoch: z.number().int().nonnegative().optional() }))
      .query(({ ctx, input }) => runSamples(ctx.store, input.id, input.epoch, ctx.samples)),
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
  /** Owners, tags and signed notes on sweeps and runs (changes need a token: its name signs). */
  notes: router({
    get: readProcedure
      .input(target)
      .query(({ ctx, input }) => ctx.store.annotations(toTarget(input))),
    setTags: writeProcedure
      .input(z.intersection(target, z.object({ tags })))
      .mutation(({ ctx, input }) => ctx.store.setTags(toTarget(input), input.tags)),
    add: writeProcedure
      .input(z.intersection(target, z.object({ text: z.string().min(1).max(10_000) })))
      .mutation(({ ctx, input }) =>
        ctx.store.addNote(toTarget(input), ctx.tokenName as string, input.text),
      ),
  }),
  /** Who this request is (its token's name, or null) and whether reads need a token. */
  me: publicProcedure.query(({ ctx }) => ({ name: ctx.tokenName, publicRead: ctx.publicRead })),
  workers: router({
    list: readProcedure.query(({ ctx }) => (ctx.workers ? ctx.workers() : ctx.store.listWorkers())),
  }),
  /**
   * API tokens, managed through the running server (which holds the embedded store): any valid
   * token may create, list and revoke tokens. A revocation here is immediate on this server.
   */
  tokens: router({
    create: writeProcedure.input(z.object({ name })).mutation(async ({ ctx, input }) => ({
      name: input.name,
      token: await ctx.store.createToken(input.name),
    })),
    list: writeProcedure.query(({ ctx }) => ctx.store.listTokens()),
    revoke: writeProcedure.input(z.object({ name })).mutation(async ({ ctx, input }) => {
      const revoked = await ctx.store.revokeToken(input.name);
      if (!revoked)
        throw new TRPCError({
          code: 'NOT_FOUND',
          message: `no active token named '${input.name}'`,
        });
      ctx.forgetTokens();
      return { name: input.name, revoked };
    }),
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
