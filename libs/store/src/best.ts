// Selection and summaries: the best epoch by a metric, metric-vs-metric correlation, progress.
import { ErrorCode, FidlabError } from '@fidlab/base';
import { Prisma } from './generated/prisma/client.js';
import type { StoreContext } from './context.js';
import { listRuns } from './runs.js';
import { sweepOrThrow } from './sweeps.js';
import {
  DEFAULT_PROTOCOL,
  type BestQuery,
  type BestResult,
  type CorrelationPoints,
  type Goal,
  type JsonValue,
  type ProgressSnapshot,
} from './types.js';
import { parseJson, protocolSql, requireName } from './validate.js';

export async function best(ctx: StoreContext, q: BestQuery): Promise<BestResult | null> {
  requireName(q.metric, 'metric');
  const goal: Goal = q.goal ?? 'min';
  if (goal !== 'min' && goal !== 'max') {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `goal must be min or max, got ${JSON.stringify(goal)}`,
    );
  }
  // One round trip: the sweep is resolved inside the query (existence checked only on a miss).
  const where = q.where !== undefined && Object.keys(q.where).length > 0 ? q.where : undefined;
  for (const [k, v] of Object.entries(where ?? {}))
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v)))
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `best: where.${k} must be a string or a finite number, got ${JSON.stringify(v)}`,
      );
  /** The runs in scope, for run_best as `rb` joined with runs as `r` (aliases vary). */
  const scopeOf = (rb: string, r: string) => {
    const base =
      q.run !== undefined
        ? Prisma.sql`AND ${Prisma.raw(rb)}.run_id = ${q.run}::int`
        : q.sweep !== undefined
          ? Prisma.sql`AND ${Prisma.raw(r)}.sweep_id = (SELECT id FROM sweeps WHERE name = ${q.sweep})`
          : Prisma.empty;
    // jsonb containment: every key of `where` is in the run's parameters with that value.
    return where === undefined
      ? base
      : Prisma.sql`${base} AND ${Prisma.raw(r)}.parameters @> ${JSON.stringify(where)}::jsonb`;
  };
  const scope = scopeOf('rb', 'r');
  const pick =
    goal === 'min'
      ? Prisma.sql`rb.min_value AS value, rb.min_epoch AS epoch`
      : Prisma.sql`rb.max_value AS value, rb.max_epoch AS epoch`;
  const order =
    goal === 'min'
      ? Prisma.sql`rb.min_value ASC, rb.min_epoch ASC`
      : Prisma.sql`rb.max_value DESC, rb.max_epoch ASC`;
  const rows = await ctx.prisma.$queryRaw<
    {
      run_id: number;
      key: string;
      parameters: unknown;
      sweep: string;
      epoch: number;
      value: number;
      checkpoint_uri: string | null;
      checkpoint_sha256: string | null;
      metrics: unknown;
      protocols: unknown;
      recipes: unknown;
      recipe: unknown;
      uniform: boolean | null;
    }[]
  >`
    WITH b AS (
      SELECT rb.run_id, ${pick}
      FROM run_best rb JOIN runs r ON r.id = rb.run_id
      WHERE rb.name = ${q.metric} ${scope}
      ORDER BY ${order}, rb.run_id ASC
      LIMIT 1
    ), sel AS (
      SELECT m.extra->'recipe' AS rc FROM b
      JOIN metric_values m ON m.run_id = b.run_id AND m.epoch = b.epoch AND m.name = ${q.metric}
    )
    SELECT b.run_id, r.key, r.parameters, s.name AS sweep, b.epoch, b.value,
      e.checkpoint_uri, e.checkpoint_sha256,
      (SELECT json_object_agg(m.name, m.value ORDER BY m.name)::text FROM metric_values m
        WHERE m.run_id = b.run_id AND m.epoch = b.epoch) AS metrics,
      (SELECT json_object_agg(m.name, ${protocolSql('m.extra')} ORDER BY m.name)::text
        FROM metric_values m WHERE m.run_id = b.run_id AND m.epoch = b.epoch) AS protocols,
      (SELECT json_object_agg(m.name, m.extra->'recipe' ORDER BY m.name)::text
        FROM metric_values m WHERE m.run_id = b.run_id AND m.epoch = b.epoch) AS recipes,
      (SELECT rc::text FROM sel) AS recipe,
      -- every run's values of the metric in scope have exactly the selected value's recipe
      (SELECT bool_and(rb2.recipes = jsonb_build_array((SELECT rc FROM sel)))
        FROM run_best rb2 JOIN runs r2 ON r2.id = rb2.run_id
        WHERE rb2.name = ${q.metric} ${scopeOf('rb2', 'r2')}) AS uniform
    FROM b JOIN runs r ON r.id = b.run_id JOIN sweeps s ON s.id = r.sweep_id
    LEFT JOIN epochs e ON e.run_id = b.run_id AND e.epoch = b.epoch`;
  if (rows.length === 0) {
    if (q.run === undefined && q.sweep !== undefined) await sweepOrThrow(ctx, q.sweep);
    return null;
  }
  const r = rows[0];
  const protocols = (parseJson(r.protocols) ?? {}) as Record<string, number>;
  const recipe = (parseJson(r.recipe) ?? null) as JsonValue | null;
  return {
    sweep: r.sweep,
    runId: Number(r.run_id),
    run: r.key,
    parameters: parseJson(r.parameters) as JsonValue,
    epoch: Number(r.epoch),
    metric: q.metric,
    goal,
    value: Number(r.value),
    checkpoint: r.checkpoint_uri,
    checkpointSha256: r.checkpoint_sha256,
    metrics: (parseJson(r.metrics) ?? {}) as Record<string, number>,
    protocol: protocols[q.metric] ?? DEFAULT_PROTOCOL,
    protocols,
    recipe,
    recipes: (parseJson(r.recipes) ?? {}) as Record<string, JsonValue | null>,
    comparable: recipe !== null && r.uniform === true,
  };
}

/**
 * The points of metric A against metric B: every (run, epoch) of a sweep where both were
 * recorded, with each value's evaluation protocol and recipe (`extra.recipe`, null when absent).
 * The statistics are computed by fid-core's `correlate`, not here (the api's metrics.correlate).
 */
export async function correlationPoints(
  ctx: StoreContext,
  q: { sweep: string; a: string; b: string },
): Promise<CorrelationPoints> {
  const s = await sweepOrThrow(ctx, q.sweep);
  const rows = await ctx.prisma.$queryRaw<
    {
      run_id: number;
      key: string;
      epoch: number;
      a: number;
      b: number;
      pa: number;
      pb: number;
      ra: unknown;
      rb: unknown;
    }[]
  >`
    SELECT ma.run_id, r.key, ma.epoch, ma.value AS a, mb.value AS b,
      ${protocolSql('ma.extra')} AS pa, ${protocolSql('mb.extra')} AS pb,
      (ma.extra->'recipe')::text AS ra, (mb.extra->'recipe')::text AS rb
    FROM metric_values ma
    JOIN metric_values mb ON mb.run_id = ma.run_id AND mb.epoch = ma.epoch AND mb.name = ${q.b}
    JOIN runs r ON r.id = ma.run_id
    WHERE r.sweep_id = ${s.id}::int AND ma.name = ${q.a}
    ORDER BY ma.run_id, ma.epoch`;
  return {
    sweep: q.sweep,
    a: q.a,
    b: q.b,
    points: rows.map((r) => ({
      runId: Number(r.run_id),
      run: r.key,
      epoch: Number(r.epoch),
      a: Number(r.a),
      b: Number(r.b),
      protocolA: Number(r.pa),
      protocolB: Number(r.pb),
      recipeA: (parseJson(r.ra) ?? null) as JsonValue | null,
      recipeB: (parseJson(r.rb) ?? null) as JsonValue | null,
    })),
  };
}

/** Compact state of a sweep for progress displays (one row per run). */
export async function progress(ctx: StoreContext, sweep: string): Promise<ProgressSnapshot> {
  const s = await sweepOrThrow(ctx, sweep);
  const runs = await listRuns(ctx, { sweep });
  return {
    sweep: s.name,
    status: s.status,
    runs: runs.map((r) => ({
      id: r.id,
      key: r.key,
      status: r.status,
      attempt: r.attempt,
      lastEpoch: r.lastEpoch,
      last: r.last,
    })),
  };
}
