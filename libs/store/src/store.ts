// The experiment store: sweeps, runs, epochs, metric values, the per-run best summary, workers and
// API tokens, over PostgreSQL or embedded PGlite through one Prisma client. Bulk and idempotent
// writes are single SQL statements (INSERT ... ON CONFLICT) so that re-recording an epoch replaces
// values instead of duplicating them, on both databases alike.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { correlate as correlateValues } from '@fidlab/fid-core';
import {
  openDatabase,
  type Database,
  type DatabaseKind,
  type DatabaseOptions,
} from './database.js';
import { migrate } from './migrate.js';
import * as notes from './annotations.js';
import { Prisma, type PrismaClient } from './generated/prisma/client.js';
import { generateToken, hashToken } from './tokens.js';
import {
  DEFAULT_PROTOCOL,
  protocolOf,
  RUN_STATUSES,
  SWEEP_STATUSES,
  type BestQuery,
  type BestResult,
  type CorrelationResult,
  type EpochInput,
  type EpochRow,
  type Goal,
  type JsonValue,
  type MetricInput,
  type MetricRow,
  type ProgressSnapshot,
  type RunRow,
  type RunStatus,
  type RunSummary,
  type SweepRow,
  type SweepStatus,
  type SweepSummary,
  type WorkerRow,
} from './types.js';

/** PostgreSQL's bind-parameter limit is 32,767 per statement; stay well under it. */
export const MAX_BIND_PARAMS = 30_000;
const METRIC_COLUMNS = 10;
const EPOCH_COLUMNS = 7;
export const METRIC_CHUNK_ROWS = Math.floor(MAX_BIND_PARAMS / METRIC_COLUMNS);

export interface OpenStoreOptions extends DatabaseOptions {
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  log?: (line: string) => void;
}

/** What changed, for progress subscribers in this process. */
export interface StoreChange {
  sweepId?: number;
  runId?: number;
  kind: 'sweep' | 'run' | 'epoch' | 'metrics';
}

export async function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  const db = await openDatabase(opts);
  try {
    if (opts.migrate !== false) {
      await db.raw((sql) => migrate(sql, opts.log ? { log: opts.log } : {}));
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  return new Store(db);
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function parseJson(v: unknown): unknown {
  return typeof v === 'string' ? JSON.parse(v) : v;
}

function requireFinite(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new FidlabError(ErrorCode.NOT_FINITE, `${what} must be a finite number, got ${value}`);
  }
}

function requireEpoch(epoch: number, what = 'epoch'): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 2_147_483_647) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what} must be a non-negative integer, got ${epoch}`,
    );
  }
}

/** extra.protocol, when given, is a positive integer (an evaluation protocol version). */
function requireProtocol(r: MetricRow): void {
  const extra = r.extra;
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) return;
  if (!('protocol' in extra) || extra.protocol === undefined) return;
  const p = extra.protocol;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 2_147_483_647) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `metric ${r.name} at epoch ${r.epoch}: extra.protocol must be a positive integer, got ${JSON.stringify(p)}`,
    );
  }
}

/**
 * protocolOf(<extra>) in SQL, for a jsonb column: the CASE arms are evaluated in order, so the
 * numeric casts only see numbers.
 */
function protocolSql(extra: string): Prisma.Sql {
  const p = Prisma.raw(extra);
  return Prisma.sql`(CASE
    WHEN jsonb_typeof(${p}->'protocol') IS DISTINCT FROM 'number' THEN ${DEFAULT_PROTOCOL}::int
    WHEN (${p}->>'protocol')::numeric BETWEEN 1 AND 2147483647
      AND (${p}->>'protocol')::numeric = trunc((${p}->>'protocol')::numeric)
      THEN (${p}->>'protocol')::numeric::int
    ELSE ${DEFAULT_PROTOCOL}::int END)`;
}

function requireName(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what} must be 1-200 characters, got ${JSON.stringify(name)}`,
    );
  }
}

/** Stable JSON (sorted keys) so that equal parameter sets hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Default trial key: the first 16 hex digits of sha256(canonical parameters). */
export function parametersKey(parameters: unknown): string {
  return createHash('sha256').update(canonicalJson(parameters)).digest('hex').slice(0, 16);
}

type RunRecord = {
  id: number;
  sweepId: number;
  key: string;
  parameters: unknown;
  status: string;
  attempt: number;
  workerId: string | null;
  error: string | null;
  runDir: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  sweep: { name: string };
};

function runRow(r: RunRecord): RunRow {
  return {
    id: r.id,
    sweepId: r.sweepId,
    sweep: r.sweep.name,
    key: r.key,
    parameters: r.parameters as JsonValue,
    status: r.status as RunStatus,
    attempt: r.attempt,
    workerId: r.workerId,
    error: r.error,
    runDir: r.runDir,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
  };
}

function sweepRow(s: {
  id: number;
  name: string;
  spec: unknown;
  status: string;
  createdAt: Date;
  updatedAt: Date;
}): SweepRow {
  return {
    id: s.id,
    name: s.name,
    spec: s.spec as JsonValue,
    status: s.status as SweepStatus,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

export class Store {
  readonly kind: DatabaseKind;
  readonly location: string;
  readonly prisma: PrismaClient;
  /** Emits 'change' (StoreChange) after each write made through this Store. */
  readonly events = new EventEmitter();
  private closed = false;

  constructor(private readonly db: Database) {
    this.kind = db.kind;
    this.location = db.location;
    this.prisma = db.prisma;
    this.events.setMaxListeners(0);
  }

  private changed(c: StoreChange): void {
    this.events.emit('change', c);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.removeAllListeners();
    await this.db.close();
  }

  // ---- sweeps -------------------------------------------------------------------------------

  /** Creates the sweep or updates its spec (and status when given). */
  async upsertSweep(input: {
    name: string;
    spec: unknown;
    status?: SweepStatus;
  }): Promise<SweepRow> {
    requireName(input.name, 'sweep name');
    if (input.status !== undefined) checkStatus(input.status, SWEEP_STATUSES, 'sweep status');
    const spec = (input.spec ?? {}) as Prisma.InputJsonValue;
    const s = await this.prisma.sweep.upsert({
      where: { name: input.name },
      create: { name: input.name, spec, status: input.status ?? 'pending' },
      update: { spec, ...(input.status ? { status: input.status } : {}) },
    });
    this.changed({ kind: 'sweep', sweepId: s.id });
    return sweepRow(s);
  }

  async getSweep(name: string): Promise<SweepRow | null> {
    const s = await this.prisma.sweep.findUnique({ where: { name } });
    return s ? sweepRow(s) : null;
  }

  private async sweepOrThrow(name: string): Promise<SweepRow> {
    const s = await this.getSweep(name);
    if (!s)
      throw new FidlabError(
        ErrorCode.NOT_FOUND,
        `no sweep named ${JSON.stringify(name)} in the store`,
      );
    return s;
  }

  async setSweepStatus(name: string, status: SweepStatus): Promise<SweepRow> {
    checkStatus(status, SWEEP_STATUSES, 'sweep status');
    await this.sweepOrThrow(name);
    const s = await this.prisma.sweep.update({ where: { name }, data: { status } });
    this.changed({ kind: 'sweep', sweepId: s.id });
    return sweepRow(s);
  }

  async listSweeps(): Promise<SweepSummary[]> {
    const sweeps = await this.prisma.sweep.findMany({ orderBy: { id: 'asc' } });
    const counts = await this.prisma.run.groupBy({
      by: ['sweepId', 'status'],
      _count: { _all: true },
    });
    return sweeps.map((s) => {
      const runs: Partial<Record<RunStatus, number>> = {};
      for (const c of counts) if (c.sweepId === s.id) runs[c.status as RunStatus] = c._count._all;
      return { ...sweepRow(s), runs };
    });
  }

  /** Marks the sweep cancelled and every pending or running run of it cancelled. */
  async cancelSweep(name: string): Promise<{ sweep: SweepRow; cancelledRuns: number }> {
    const s = await this.sweepOrThrow(name);
    const [sweep, runs] = await this.prisma.$transaction([
      this.prisma.sweep.update({ where: { id: s.id }, data: { status: 'cancelled' } }),
      this.prisma.run.updateMany({
        where: { sweepId: s.id, status: { in: ['pending', 'running'] } },
        data: { status: 'cancelled', finishedAt: new Date() },
      }),
    ]);
    this.changed({ kind: 'sweep', sweepId: s.id });
    return { sweep: sweepRow(sweep), cancelledRuns: runs.count };
  }

  // ---- runs ---------------------------------------------------------------------------------

  /**
   * Returns the run identified by (sweep, key), creating it (status pending) if missing. An
   * existing run keeps its status and attempt; its parameters and runDir are refreshed.
   * `key` defaults to parametersKey(parameters).
   */
  async upsertRun(input: {
    sweepId: number;
    key?: string;
    parameters: unknown;
    runDir?: string | null;
  }): Promise<RunRow> {
    const key = input.key ?? parametersKey(input.parameters);
    requireName(key, 'run key');
    const parameters = (input.parameters ?? {}) as Prisma.InputJsonValue;
    const r = await this.prisma.run.upsert({
      where: { sweepId_key: { sweepId: input.sweepId, key } },
      create: { sweepId: input.sweepId, key, parameters, runDir: input.runDir ?? null },
      update: { parameters, ...(input.runDir !== undefined ? { runDir: input.runDir } : {}) },
      include: { sweep: { select: { name: true } } },
    });
    this.changed({ kind: 'run', sweepId: r.sweepId, runId: r.id });
    return runRow(r);
  }

  /** upsertRun for many trials at once (in order). */
  async createRuns(
    sweepId: number,
    trials: { key?: string; parameters: unknown; runDir?: string | null }[],
  ): Promise<RunRow[]> {
    const out: RunRow[] = [];
    for (const t of trials) out.push(await this.upsertRun({ sweepId, ...t }));
    return out;
  }

  /**
   * Moves a run to a status. `running` stamps startedAt (and bumps attempt unless `attempt` is
   * given); done/failed/cancelled stamp finishedAt. `error` is kept only for failed runs.
   */
  async setRunStatus(
    runId: number,
    status: RunStatus,
    opts: { error?: string | null; workerId?: string | null; attempt?: number } = {},
  ): Promise<RunRow> {
    checkStatus(status, RUN_STATUSES, 'run status');
    const now = new Date();
    const data: Prisma.RunUpdateInput = { status };
    if (status === 'running') {
      data.startedAt = now;
      data.finishedAt = null;
      data.error = null;
      data.attempt = opts.attempt !== undefined ? opts.attempt : { increment: 1 };
    } else {
      if (opts.attempt !== undefined) data.attempt = opts.attempt;
      if (status !== 'pending') data.finishedAt = now;
      data.error = status === 'failed' ? (opts.error ?? 'failed') : null;
    }
    if (opts.workerId !== undefined) data.workerId = opts.workerId;
    const r = await this.prisma.run
      .update({ where: { id: runId }, data, include: { sweep: { select: { name: true } } } })
      .catch((err: unknown) => {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') {
          throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${runId}`);
        }
        throw err;
      });
    this.changed({ kind: 'run', sweepId: r.sweepId, runId: r.id });
    return runRow(r);
  }

  async getRun(runId: number): Promise<RunRow | null> {
    const r = await this.prisma.run.findUnique({
      where: { id: runId },
      include: { sweep: { select: { name: true } } },
    });
    return r ? runRow(r) : null;
  }

  async findRun(sweep: string, key: string): Promise<RunRow | null> {
    const r = await this.prisma.run.findFirst({
      where: { key, sweep: { name: sweep } },
      include: { sweep: { select: { name: true } } },
    });
    return r ? runRow(r) : null;
  }

  /**
   * Runs (of one sweep, or all), with last epoch, latest and best metric values, and the
   * evaluation protocols of each metric's values: all from the run_best summary rows, which
   * every metric write keeps up to date (refreshRunBest).
   */
  async listRuns(opts: { sweep?: string; status?: RunStatus } = {}): Promise<RunSummary[]> {
    if (opts.sweep !== undefined) await this.sweepOrThrow(opts.sweep);
    const runs = await this.prisma.run.findMany({
      where: {
        ...(opts.sweep !== undefined ? { sweep: { name: opts.sweep } } : {}),
        ...(opts.status !== undefined ? { status: opts.status } : {}),
      },
      include: { sweep: { select: { name: true } }, best: true },
      orderBy: { id: 'asc' },
    });
    const ids = runs.map((r) => r.id);
    const lastEpochs =
      ids.length === 0
        ? []
        : await this.prisma.epoch.groupBy({
            by: ['runId'],
            where: { runId: { in: ids } },
            _max: { epoch: true },
          });
    const lastEpoch = new Map(lastEpochs.map((e) => [e.runId, e._max.epoch]));
    return runs.map((r) => {
      const last: Record<string, number> = {};
      const best: RunSummary['best'] = {};
      const protocols: Record<string, number[]> = {};
      const lastProtocol: Record<string, number> = {};
      for (const b of r.best) {
        last[b.name] = b.lastValue;
        protocols[b.name] = [...b.protocols].sort((x, y) => x - y);
        lastProtocol[b.name] = b.lastProtocol;
        best[b.name] = {
          min: b.minValue,
          minEpoch: b.minEpoch,
          max: b.maxValue,
          maxEpoch: b.maxEpoch,
        };
      }
      let le = lastEpoch.get(r.id) ?? null;
      for (const b of r.best) le = Math.max(le ?? b.lastEpoch, b.lastEpoch);
      return { ...runRow(r), lastEpoch: le, last, best, protocols, lastProtocol };
    });
  }

  // ---- epochs and metrics -------------------------------------------------------------------

  /** Records (or re-records) one epoch's losses, checkpoint and duration. */
  async recordEpoch(runId: number, e: EpochInput): Promise<void> {
    requireEpoch(e.epoch);
    const losses: Record<string, number> = {};
    for (const [k, v] of Object.entries(e.losses ?? {})) {
      requireFinite(v, `loss ${k} at epoch ${e.epoch}`);
      losses[k] = v;
    }
    if (e.seconds != null) requireFinite(e.seconds, 'epoch seconds');
    const data = {
      losses,
      checkpointUri: e.checkpoint?.uri ?? null,
      checkpointSha256: e.checkpoint?.sha256 ?? null,
      checkpointBytes: e.checkpoint?.bytes != null ? BigInt(e.checkpoint.bytes) : null,
      seconds: e.seconds ?? null,
    };
    const row = await this.prisma.epoch
      .upsert({
        where: { runId_epoch: { runId, epoch: e.epoch } },
        create: { runId, epoch: e.epoch, ...data },
        update: data,
        include: { run: { select: { sweepId: true } } },
      })
      .catch((err: unknown) => {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2003') {
          throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${runId}`);
        }
        throw err;
      });
    this.changed({ kind: 'epoch', runId, sweepId: row.run.sweepId });
  }

  /**
   * Bulk idempotent epoch write (INSERT ... ON CONFLICT (run_id, epoch) DO UPDATE), chunked under
   * the bind-parameter limit. Same meaning as recordEpoch per row; a later row for a key wins.
   */
  async recordEpochRows(rows: (EpochInput & { runId: number })[]): Promise<number> {
    const byKey = new Map<string, EpochInput & { runId: number }>();
    for (const e of rows) {
      requireEpoch(e.epoch);
      for (const [k, v] of Object.entries(e.losses ?? {}))
        requireFinite(v, `loss ${k} at epoch ${e.epoch}`);
      if (e.seconds != null) requireFinite(e.seconds, 'epoch seconds');
      byKey.set(`${e.runId}\u0000${e.epoch}`, e);
    }
    const unique = [...byKey.values()];
    const per = Math.floor(MAX_BIND_PARAMS / EPOCH_COLUMNS);
    for (let i = 0; i < unique.length; i += per) {
      const chunk = unique.slice(i, i + per);
      const values = chunk.map(
        (e) =>
          Prisma.sql`(${e.runId}::int, ${e.epoch}::int, ${JSON.stringify(e.losses ?? {})}::jsonb, ${e.checkpoint?.uri ?? null}::text, ${e.checkpoint?.sha256 ?? null}::text, ${e.checkpoint?.bytes ?? null}::bigint, ${e.seconds ?? null}::float8)`,
      );
      try {
        await this.prisma.$executeRaw`
          INSERT INTO epochs (run_id, epoch, losses, checkpoint_uri, checkpoint_sha256, checkpoint_bytes, seconds)
          VALUES ${Prisma.join(values)}
          ON CONFLICT (run_id, epoch) DO UPDATE SET
            losses = EXCLUDED.losses, checkpoint_uri = EXCLUDED.checkpoint_uri,
            checkpoint_sha256 = EXCLUDED.checkpoint_sha256, checkpoint_bytes = EXCLUDED.checkpoint_bytes,
            seconds = EXCLUDED.seconds`;
      } catch (err) {
        if (/foreign key/i.test(String((err as Error)?.message))) {
          throw new FidlabError(ErrorCode.NOT_FOUND, `epoch rows name a run that does not exist`);
        }
        throw err;
      }
      for (const runId of new Set(chunk.map((e) => e.runId)))
        this.changed({ kind: 'epoch', runId });
    }
    return unique.length;
  }

  /** Records (or replaces) metric values of one run at one epoch. Returns the rows written. */
  async recordMetrics(runId: number, epoch: number, metrics: MetricInput[]): Promise<number> {
    return this.recordMetricRows(metrics.map((m) => ({ ...m, runId, epoch })));
  }

  /**
   * Bulk idempotent write: one INSERT ... ON CONFLICT DO UPDATE per chunk of METRIC_CHUNK_ROWS
   * rows (under the bind-parameter limit), each in a transaction with the refresh of the
   * affected run_best rows. Within one call a later row for the same key wins.
   */
  async recordMetricRows(rows: MetricRow[]): Promise<number> {
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
    const unique = [...byKey.values()];
    for (let i = 0; i < unique.length; i += METRIC_CHUNK_ROWS) {
      const chunk = unique.slice(i, i + METRIC_CHUNK_ROWS);
      const values = chunk.map(
        (r) =>
          Prisma.sql`(${r.runId}::int, ${r.epoch}::int, ${r.name}, ${r.value}::float8, ${r.ciLow ?? null}::float8, ${r.ciHigh ?? null}::float8, ${r.extractor ?? null}::text, ${r.n1 ?? null}::int, ${r.n2 ?? null}::int, ${r.extra == null ? null : JSON.stringify(r.extra)}::jsonb)`,
      );
      const runIds = [...new Set(chunk.map((r) => r.runId))];
      const names = [...new Set(chunk.map((r) => r.name))];
      try {
        await this.prisma.$transaction([
          this.prisma.$executeRaw`
            INSERT INTO metric_values (run_id, epoch, name, value, ci_low, ci_high, extractor, n1, n2, extra)
            VALUES ${Prisma.join(values)}
            ON CONFLICT (run_id, epoch, name) DO UPDATE SET
              value = EXCLUDED.value, ci_low = EXCLUDED.ci_low, ci_high = EXCLUDED.ci_high,
              extractor = EXCLUDED.extractor, n1 = EXCLUDED.n1, n2 = EXCLUDED.n2,
              extra = EXCLUDED.extra, created_at = now()`,
          this.refreshRunBest(runIds, names),
        ]);
      } catch (err) {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2003') {
          throw new FidlabError(
            ErrorCode.NOT_FOUND,
            `metric rows name a run that does not exist (run ids ${runIds.join(', ')})`,
          );
        }
        if (/foreign key/i.test(String((err as Error)?.message))) {
          throw new FidlabError(
            ErrorCode.NOT_FOUND,
            `metric rows name a run that does not exist (run ids ${runIds.join(', ')})`,
          );
        }
        throw err;
      }
      for (const runId of runIds) this.changed({ kind: 'metrics', runId });
    }
    return unique.length;
  }

  /** Recomputes run_best for these runs x names from metric_values (ties: earliest epoch). */
  private refreshRunBest(runIds: number[], names: string[]) {
    return this.prisma.$executeRaw`
      INSERT INTO run_best (run_id, name, min_value, min_epoch, max_value, max_epoch, last_value, last_epoch, count, protocols, last_protocol, updated_at)
      SELECT run_id, name,
        (array_agg(value ORDER BY value ASC, epoch ASC))[1],
        (array_agg(epoch ORDER BY value ASC, epoch ASC))[1],
        (array_agg(value ORDER BY value DESC, epoch ASC))[1],
        (array_agg(epoch ORDER BY value DESC, epoch ASC))[1],
        (array_agg(value ORDER BY epoch DESC))[1],
        max(epoch), count(*)::int,
        array_agg(DISTINCT p ORDER BY p), (array_agg(p ORDER BY epoch DESC))[1], now()
      FROM (SELECT run_id, name, epoch, value, ${protocolSql('extra')} AS p
            FROM metric_values
            WHERE run_id IN (${Prisma.join(runIds)}) AND name IN (${Prisma.join(names)})) v
      GROUP BY run_id, name
      ON CONFLICT (run_id, name) DO UPDATE SET
        min_value = EXCLUDED.min_value, min_epoch = EXCLUDED.min_epoch,
        max_value = EXCLUDED.max_value, max_epoch = EXCLUDED.max_epoch,
        last_value = EXCLUDED.last_value, last_epoch = EXCLUDED.last_epoch,
        count = EXCLUDED.count, protocols = EXCLUDED.protocols,
        last_protocol = EXCLUDED.last_protocol, updated_at = now()`;
  }

  /** Every epoch of a run with its losses, checkpoint and all metrics (ascending epoch). */
  async runEpochs(runId: number): Promise<EpochRow[]> {
    const [epochs, metrics] = await Promise.all([
      this.prisma.epoch.findMany({ where: { runId }, orderBy: { epoch: 'asc' } }),
      this.prisma.metricValue.findMany({
        where: { runId },
        orderBy: [{ epoch: 'asc' }, { name: 'asc' }],
      }),
    ]);
    const byEpoch = new Map<number, EpochRow>();
    const get = (epoch: number): EpochRow => {
      let row = byEpoch.get(epoch);
      if (!row) {
        row = {
          epoch,
          losses: {},
          checkpoint: null,
          seconds: null,
          metrics: {},
          details: {},
          protocols: {},
        };
        byEpoch.set(epoch, row);
      }
      return row;
    };
    for (const e of epochs) {
      const row = get(e.epoch);
      row.losses = e.losses as Record<string, number>;
      row.seconds = e.seconds;
      row.checkpoint =
        e.checkpointUri === null
          ? null
          : {
              uri: e.checkpointUri,
              sha256: e.checkpointSha256,
              bytes: e.checkpointBytes === null ? null : Number(e.checkpointBytes),
            };
    }
    for (const m of metrics) {
      const row = get(m.epoch);
      row.metrics[m.name] = m.value;
      row.details[m.name] = {
        value: m.value,
        ciLow: m.ciLow,
        ciHigh: m.ciHigh,
        extractor: m.extractor,
        n1: m.n1,
        n2: m.n2,
        extra: (m.extra ?? null) as JsonValue | null,
      };
      row.protocols[m.name] = protocolOf(m.extra);
    }
    return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  }

  /** Metric names recorded (in a sweep, or anywhere), sorted. */
  async metricNames(opts: { sweep?: string } = {}): Promise<string[]> {
    const rows = await this.prisma.runBest.findMany({
      where: opts.sweep !== undefined ? { run: { sweep: { name: opts.sweep } } } : {},
      distinct: ['name'],
      select: { name: true },
      orderBy: { name: 'asc' },
    });
    return rows.map((r) => r.name);
  }

  /**
   * The best epoch by a metric within a run, a sweep, or the whole store, with its checkpoint
   * and every metric at that epoch. Null when nothing matches. Ties: lowest epoch, then run id.
   */
  async best(q: BestQuery): Promise<BestResult | null> {
    requireName(q.metric, 'metric');
    const goal: Goal = q.goal ?? 'min';
    if (goal !== 'min' && goal !== 'max') {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `goal must be min or max, got ${JSON.stringify(goal)}`,
      );
    }
    // One round trip: the sweep is resolved inside the query (existence checked only on a miss).
    let scope = Prisma.empty;
    if (q.run !== undefined) scope = Prisma.sql`AND rb.run_id = ${q.run}::int`;
    else if (q.sweep !== undefined) {
      scope = Prisma.sql`AND r.sweep_id = (SELECT id FROM sweeps WHERE name = ${q.sweep})`;
    }
    const pick =
      goal === 'min'
        ? Prisma.sql`rb.min_value AS value, rb.min_epoch AS epoch`
        : Prisma.sql`rb.max_value AS value, rb.max_epoch AS epoch`;
    const order =
      goal === 'min'
        ? Prisma.sql`rb.min_value ASC, rb.min_epoch ASC`
        : Prisma.sql`rb.max_value DESC, rb.max_epoch ASC`;
    const rows = await this.prisma.$queryRaw<
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
      }[]
    >`
      WITH b AS (
        SELECT rb.run_id, ${pick}
        FROM run_best rb JOIN runs r ON r.id = rb.run_id
        WHERE rb.name = ${q.metric} ${scope}
        ORDER BY ${order}, rb.run_id ASC
        LIMIT 1
      )
      SELECT b.run_id, r.key, r.parameters, s.name AS sweep, b.epoch, b.value,
        e.checkpoint_uri, e.checkpoint_sha256,
        (SELECT json_object_agg(m.name, m.value ORDER BY m.name)::text FROM metric_values m
          WHERE m.run_id = b.run_id AND m.epoch = b.epoch) AS metrics,
        (SELECT json_object_agg(m.name, ${protocolSql('m.extra')} ORDER BY m.name)::text
          FROM metric_values m WHERE m.run_id = b.run_id AND m.epoch = b.epoch) AS protocols
      FROM b JOIN runs r ON r.id = b.run_id JOIN sweeps s ON s.id = r.sweep_id
      LEFT JOIN epochs e ON e.run_id = b.run_id AND e.epoch = b.epoch`;
    if (rows.length === 0) {
      if (q.run === undefined && q.sweep !== undefined) await this.sweepOrThrow(q.sweep);
      return null;
    }
    const r = rows[0];
    const protocols = (parseJson(r.protocols) ?? {}) as Record<string, number>;
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
    };
  }

  /** Metric A against metric B over every (run, epoch) of a sweep where both were recorded. */
  async correlate(q: { sweep: string; a: string; b: string }): Promise<CorrelationResult> {
    const s = await this.sweepOrThrow(q.sweep);
    const rows = await this.prisma.$queryRaw<
      { run_id: number; key: string; epoch: number; a: number; b: number; pa: number; pb: number }[]
    >`
      SELECT ma.run_id, r.key, ma.epoch, ma.value AS a, mb.value AS b,
        ${protocolSql('ma.extra')} AS pa, ${protocolSql('mb.extra')} AS pb
      FROM metric_values ma
      JOIN metric_values mb ON mb.run_id = ma.run_id AND mb.epoch = ma.epoch AND mb.name = ${q.b}
      JOIN runs r ON r.id = ma.run_id
      WHERE r.sweep_id = ${s.id}::int AND ma.name = ${q.a}
      ORDER BY ma.run_id, ma.epoch`;
    const points = rows.map((r) => ({
      runId: Number(r.run_id),
      run: r.key,
      epoch: Number(r.epoch),
      a: Number(r.a),
      b: Number(r.b),
      protocolA: Number(r.pa),
      protocolB: Number(r.pb),
    }));
    if (points.length < 3) {
      throw new FidlabError(
        ErrorCode.TOO_FEW_SAMPLES,
        `correlating ${q.a} with ${q.b} in sweep ${q.sweep} needs at least 3 epochs with both, found ${points.length}`,
      );
    }
    const c = correlateValues(
      points.map((p) => p.a),
      points.map((p) => p.b),
    );
    return {
      sweep: q.sweep,
      a: q.a,
      b: q.b,
      points,
      n: points.length,
      // NaN (a constant series) travels as null: JSON has no NaN.
      pearson: Number.isNaN(c.pearson) ? null : c.pearson,
      spearman: Number.isNaN(c.spearman) ? null : c.spearman,
      kendall: Number.isNaN(c.kendall) ? null : c.kendall,
    };
  }

  /** Compact state of a sweep for progress displays (one row per run). */
  async progress(sweep: string): Promise<ProgressSnapshot> {
    const s = await this.sweepOrThrow(sweep);
    const runs = await this.listRuns({ sweep });
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

  // ---- workers ------------------------------------------------------------------------------

  async registerWorker(w: {
    id: string;
    hostname: string;
    pid?: number | null;
    info?: JsonValue;
    status?: string;
  }): Promise<WorkerRow> {
    requireName(w.id, 'worker id');
    const data = {
      hostname: w.hostname,
      pid: w.pid ?? null,
      info: (w.info ?? undefined) as Prisma.InputJsonValue | undefined,
      status: w.status ?? 'idle',
      lastSeenAt: new Date(),
    };
    const row = await this.prisma.worker.upsert({
      where: { id: w.id },
      create: { id: w.id, ...data },
      update: data,
    });
    return workerRow(row);
  }

  async heartbeat(id: string, status?: string): Promise<void> {
    await this.prisma.worker.update({
      where: { id },
      data: { lastSeenAt: new Date(), ...(status ? { status } : {}) },
    });
  }

  async listWorkers(): Promise<WorkerRow[]> {
    return (await this.prisma.worker.findMany({ orderBy: { id: 'asc' } })).map(workerRow);
  }

  // ---- owners, tags and notes (annotations.ts) -------------------------------------------------

  claimSweepOwner = (sweep: string, owner: string) =>
    notes.claimSweepOwner(this.prisma, sweep, owner);
  setTags = (t: notes.AnnotationTarget, tags: string[]) => notes.setTags(this.prisma, t, tags);
  addNote = (t: notes.AnnotationTarget, author: string, text: string) =>
    notes.addNote(this.prisma, t, author, text);
  annotations = (t: notes.AnnotationTarget) => notes.annotations(this.prisma, t);
  listLabels = () => notes.listLabels(this.prisma);

  // ---- API tokens ---------------------------------------------------------------------------

  /** Creates a token and returns it in clear; only its sha256 is stored. */
  async createToken(name: string): Promise<string> {
    requireName(name, 'token name');
    const token = generateToken();
    const existing = await this.prisma.apiToken.findUnique({ where: { name } });
    if (existing && existing.revokedAt === null) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `a token named ${JSON.stringify(name)} exists already; revoke it first`,
      );
    }
    await this.prisma.apiToken.upsert({
      where: { name },
      create: { name, hash: hashToken(token) },
      update: { hash: hashToken(token), revokedAt: null, createdAt: new Date(), lastUsedAt: null },
    });
    return token;
  }

  /** The token's name when it is valid (not revoked), else null. */
  async verifyToken(token: string): Promise<string | null> {
    const t = await this.prisma.apiToken.findUnique({ where: { hash: hashToken(token) } });
    if (!t || t.revokedAt !== null) return null;
    return t.name;
  }

  async revokeToken(name: string): Promise<boolean> {
    const r = await this.prisma.apiToken.updateMany({
      where: { name, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    return r.count > 0;
  }

  async listTokens(): Promise<{ name: string; createdAt: string; revoked: boolean }[]> {
    const rows = await this.prisma.apiToken.findMany({ orderBy: { name: 'asc' } });
    return rows.map((t) => ({
      name: t.name,
      createdAt: t.createdAt.toISOString(),
      revoked: t.revokedAt !== null,
    }));
  }
}

function workerRow(w: {
  id: string;
  hostname: string;
  pid: number | null;
  info: unknown;
  status: string;
  startedAt: Date;
  lastSeenAt: Date;
}): WorkerRow {
  return {
    id: w.id,
    hostname: w.hostname,
    pid: w.pid,
    info: (w.info ?? null) as JsonValue | null,
    status: w.status,
    startedAt: w.startedAt.toISOString(),
    lastSeenAt: w.lastSeenAt.toISOString(),
  };
}

function checkStatus(status: string, allowed: readonly string[], what: string): void {
  if (!allowed.includes(status)) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(status)}`,
    );
  }
}
