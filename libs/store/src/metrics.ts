// Metric values: bulk idempotent writes that keep the run_best summary current; metric names.
import { ErrorCode, FidlabError } from '@fidlab/base';
import { Prisma } from './generated/prisma/client.js';
import type { Claim } from '@fidlab/experiments';
import { fence } from './claims.js';
import type { StoreContext } from './context.js';
import type { MetricInput, MetricRow } from './types.js';
import {
  isForeignKeyError,
  MAX_BIND_PARAMS,
  protocolSql,
  requireEpoch,
  requireFinite,
  requireName,
  requireProtocol,
} from './validate.js';

const METRIC_COLUMNS = 10;
export const METRIC_CHUNK_ROWS = Math.floor(MAX_BIND_PARAMS / METRIC_COLUMNS);

/** Checks every row and keeps the last row per (run, epoch, name). */
export function uniqueMetricRows(rows: MetricRow[]): MetricRow[] {
  const byKey = new Map<string, MetricRow>();
  for (const r of rows) {
    requireEpoch(r.epoch);
    requireName(r.name, 'metric name');
    requireFinite(r.value, `metric ${r.name} at epoch ${r.epoch}`);
    if (r.ciLow != null) requireFinite(r.ciLow, `${r.name} ciLow`);
    if (r.ciHigh != null) requireFinite(r.ciHigh, `${r.name} ciHigh`);
    requireProtocol(r);
    byKey.set(`${r.runId}\u0000${r.epoch}\u0000${r.name}`, r);
  }
  return [...byKey.values()];
}

/** The upsert of one chunk of checked rows, and the refresh of their run_best rows. */
function metricChunkStatements(client: Prisma.TransactionClient, chunk: MetricRow[]) {
  const values = chunk.map(
    (r) =>
      Prisma.sql`(${r.runId}::int, ${r.epoch}::int, ${r.name}, ${r.value}::float8, ${r.ciLow ?? null}::float8, ${r.ciHigh ?? null}::float8, ${r.extractor ?? null}::text, ${r.n1 ?? null}::int, ${r.n2 ?? null}::int, ${r.extra == null ? null : JSON.stringify(r.extra)}::jsonb)`,
  );
  const runIds = [...new Set(chunk.map((r) => r.runId))];
  const names = [...new Set(chunk.map((r) => r.name))];
  return [
    client.$executeRaw`
      INSERT INTO metric_values (run_id, epoch, name, value, ci_low, ci_high, extractor, n1, n2, extra)
      VALUES ${Prisma.join(values)}
      ON CONFLICT (run_id, epoch, name) DO UPDATE SET
        value = EXCLUDED.value, ci_low = EXCLUDED.ci_low, ci_high = EXCLUDED.ci_high,
        extractor = EXCLUDED.extractor, n1 = EXCLUDED.n1, n2 = EXCLUDED.n2,
        extra = EXCLUDED.extra, created_at = now()`,
    refreshRunBest(client, runIds, names),
  ];
}

export function missingRunError(runIds: number[]): FidlabError {
  return new FidlabError(
    ErrorCode.NOT_FOUND,
    `metric rows name a run that does not exist (run ids ${runIds.join(', ')})`,
  );
}

/**
 * Bulk idempotent write: one INSERT ... ON CONFLICT DO UPDATE per chunk of METRIC_CHUNK_ROWS
 * rows (under the bind-parameter limit), each in a transaction with the refresh of the
 * affected run_best rows. Within one call a later row for the same key wins. Under a `claim`
 * (every row of its run), each chunk's transaction first passes the claim's fence.
 */
export async function recordMetricRows(
  ctx: StoreContext,
  rows: MetricRow[],
  claim?: Claim,
): Promise<number> {
  const unique = uniqueMetricRows(rows);
  for (let i = 0; i < unique.length; i += METRIC_CHUNK_ROWS) {
    const chunk = unique.slice(i, i + METRIC_CHUNK_ROWS);
    const runIds = [...new Set(chunk.map((r) => r.runId))];
    try {
      if (claim)
        await ctx.prisma.$transaction(async (tx) => {
          for (const runId of runIds) await fence(tx, runId, claim);
          for (const statement of metricChunkStatements(tx, chunk)) await statement;
        });
      else await ctx.prisma.$transaction(metricChunkStatements(ctx.prisma, chunk));
    } catch (err) {
      if (isForeignKeyError(err)) throw missingRunError(runIds);
      throw err;
    }
    for (const runId of runIds) ctx.changed({ kind: 'metrics', runId });
  }
  return unique.length;
}

/** Records (or replaces) metric values of one run at one epoch. Returns the rows written. */
export async function recordMetrics(
  ctx: StoreContext,
  runId: number,
  epoch: number,
  metrics: MetricInput[],
  claim?: Claim,
): Promise<number> {
  return recordMetricRows(
    ctx,
    metrics.map((m) => ({ ...m, runId, epoch })),
    claim,
  );
}

/** Recomputes run_best for these runs x names from metric_values (ties: earliest epoch). */
function refreshRunBest(client: Prisma.TransactionClient, runIds: number[], names: string[]) {
  return client.$executeRaw`
    INSERT INTO run_best (run_id, name, min_value, min_epoch, max_value, max_epoch, last_value, last_epoch, count, protocols, last_protocol, recipes, updated_at)
    SELECT run_id, name,
      (array_agg(value ORDER BY value ASC, epoch ASC))[1],
      (array_agg(epoch ORDER BY value ASC, epoch ASC))[1],
      (array_agg(value ORDER BY value DESC, epoch ASC))[1],
      (array_agg(epoch ORDER BY value DESC, epoch ASC))[1],
      (array_agg(value ORDER BY epoch DESC))[1],
      max(epoch), count(*)::int,
      array_agg(DISTINCT p ORDER BY p), (array_agg(p ORDER BY epoch DESC))[1],
      jsonb_agg(DISTINCT rc), now()
    FROM (SELECT run_id, name, epoch, value, ${protocolSql('extra')} AS p,
            COALESCE(extra->'recipe', 'null'::jsonb) AS rc
          FROM metric_values
          WHERE run_id IN (${Prisma.join(runIds)}) AND name IN (${Prisma.join(names)})) v
    GROUP BY run_id, name
    ON CONFLICT (run_id, name) DO UPDATE SET
      min_value = EXCLUDED.min_value, min_epoch = EXCLUDED.min_epoch,
      max_value = EXCLUDED.max_value, max_epoch = EXCLUDED.max_epoch,
      last_value = EXCLUDED.last_value, last_epoch = EXCLUDED.last_epoch,
      count = EXCLUDED.count, protocols = EXCLUDED.protocols,
      last_protocol = EXCLUDED.last_protocol, recipes = EXCLUDED.recipes, updated_at = now()`;
}

/** Metric names recorded (in a sweep, or anywhere), sorted. */
export async function metricNames(
  ctx: StoreContext,
  opts: { sweep?: string } = {},
): Promise<string[]> {
  const rows = await ctx.prisma.runBest.findMany({
    where: opts.sweep !== undefined ? { run: { sweep: { name: opts.sweep } } } : {},
    distinct: ['name'],
    select: { name: true },
    orderBy: { name: 'asc' },
  });
  return rows.map((r) => r.name);
}
