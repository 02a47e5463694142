// The experiment store: sweeps, runs, epochs, metric values, the per-run best summary, workers and
// API tokens, over PostgreSQL or embedded PGlite through one Prisma client. Bulk and idempotent
// writes are single SQL statements (INSERT ... ON CONFLICT) so that re-recording an epoch replaces
// values instead of duplicating them, on both databases alike.
//
// Each concern lives in its own file as functions of a StoreContext (sweeps.ts, runs.ts,
// epochs.ts, metrics.ts, best.ts, workers.ts, apiTokens.ts); this class holds the connection and
// gives each function a one-line method. A new concern: a new file, and its methods here.
import { EventEmitter } from 'node:events';
import type { Claim, Recorder } from '@fidlab/experiments';
import * as notes from './annotations.js';
import * as apiTokens from './apiTokens.js';
import * as selection from './best.js';
import * as claims from './claims.js';
import type { StoreContext } from './context.js';
import {
  openDatabase,
  type Database,
  type DatabaseKind,
  type DatabaseOptions,
} from './database.js';
import * as epochs from './epochs.js';
import type { PrismaClient } from './generated/prisma/client.js';
import * as metrics from './metrics.js';
import { migrate } from './migrate.js';
import * as runs from './runs.js';
import * as sweeps from './sweeps.js';
import type {
  Annotations,
  Checkpoint,
  NoteRow,
  BestQuery,
  BestResult,
  CorrelationPoints,
  EpochInput,
  EpochRow,
  JsonValue,
  MetricInput,
  MetricRow,
  ProgressSnapshot,
  RunRow,
  RunStatus,
  RunSummary,
  SweepRow,
  UnfinishedRunRow,
  SweepStatus,
  SweepSummary,
  WorkerRow,
} from './types.js';
import * as workers from './workers.js';

export { MAX_BIND_PARAMS, canonicalJson, parametersKey } from './validate.js';
export { METRIC_CHUNK_ROWS } from './metrics.js';
export type { StoreChange } from './context.js';

export interface OpenStoreOptions extends DatabaseOptions {
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  log?: (line: string) => void;
  /** A claim is live while its worker's heartbeat is at most this old (ms; default 60 s). */
  claimLiveMs?: number;
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
  return new Store(db, { claimLiveMs: opts.claimLiveMs });
}

/** The store is the sweep engine's Recorder (ports.ts of @fidlab/experiments). */
export class Store implements Recorder {
  readonly kind: DatabaseKind;
  readonly location: string;
  readonly prisma: PrismaClient;
  /** Emits 'change' (StoreChange) after each write made through this Store. */
  readonly events = new EventEmitter();
  /** What each part of the store works with (the client and the change notifier). */
  protected readonly ctx: StoreContext;
  private closed = false;

  constructor(
    private readonly db: Database,
    opts: { claimLiveMs?: number } = {},
  ) {
    this.kind = db.kind;
    this.location = db.location;
    this.prisma = db.prisma;
    this.events.setMaxListeners(0);
    this.ctx = {
      prisma: this.prisma,
      changed: (c) => this.events.emit('change', c),
      claimLiveMs: opts.claimLiveMs,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.removeAllListeners();
    await this.db.close();
  }

  // ---- sweeps (sweeps.ts) -------------------------------------------------------------------

  /** Creates the sweep or updates its spec (and status when given). */
  upsertSweep(input: { name: string; spec: unknown; status?: SweepStatus }): Promise<SweepRow> {
    return sweeps.upsertSweep(this.ctx, input);
  }
  getSweep(name: string): Promise<SweepRow | null> {
    return sweeps.getSweep(this.ctx, name);
  }
  setSweepStatus(name: string, status: SweepStatus): Promise<SweepRow> {
    return sweeps.setSweepStatus(this.ctx, name, status);
  }
  listSweeps(): Promise<SweepSummary[]> {
    return sweeps.listSweeps(this.ctx);
  }
  /** Marks the sweep cancelled and every pending or running run of it cancelled. */
  cancelSweep(name: string): Promise<{ sweep: SweepRow; cancelledRuns: number }> {
    return sweeps.cancelSweep(this.ctx, name);
  }

  // ---- runs (runs.ts) -----------------------------------------------------------------------

  /** The run of (sweep, key), created pending if missing; see runs.upsertRun. */
  upsertRun(input: {
    sweepId: number;
    key?: string;
    parameters: unknown;
    runDir?: string | null;
  }): Promise<RunRow> {
    return runs.upsertRun(this.ctx, input);
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
   * given); done/failed/cancelled stamp finishedAt. `error` is kept only for failed runs. Under
   * `claim`, refused with STALE_CLAIM once a newer claim exists.
   */
  setRunStatus(
    runId: number,
    status: RunStatus,
    opts: { error?: string | null; workerId?: string | null; attempt?: number; claim?: Claim } = {},
  ): Promise<RunRow> {
    return runs.setRunStatus(this.ctx, runId, status, opts);
  }
  getRun(runId: number): Promise<RunRow | null> {
    return runs.getRun(this.ctx, runId);
  }
  findRun(sweep: string, key: string): Promise<RunRow | null> {
    return runs.findRun(this.ctx, sweep, key);
  }
  /** Runs (of one sweep, or all) with last epoch, latest and best values and their protocols. */
  listRuns(opts: { sweep?: string; status?: RunStatus } = {}): Promise<RunSummary[]> {
    return runs.listRuns(this.ctx, opts);
  }
  /**
   * Pending and running runs of the running sweeps (or of one sweep), with only what the lost-job
   * check and a requeue need: no summaries, no finished runs.
   */
  listUnfinishedRuns(opts: { sweep?: string } = {}): Promise<UnfinishedRunRow[]> {
    return runs.listUnfinishedRuns(this.ctx, opts);
  }

  // ---- claims (claims.ts) -------------------------------------------------------------------

  /**
   * Takes the run for `workerId`, bumping its claim generation; null while another worker's
   * claim is live (its heartbeat fresher than the live bound), unless `steal`.
   */
  claimRun(
    runId: number,
    workerId: string,
    opts: { steal?: boolean; liveMs?: number } = {},
  ): Promise<Claim | null> {
    return claims.claimRun(this.ctx, runId, workerId, opts);
  }
  /** Clears the run's holder if `claim` is still its current claim. */
  releaseClaim(claim: Claim): Promise<void> {
    return claims.releaseClaim(this.ctx, claim);
  }

  // ---- epochs and metrics (epochs.ts, metrics.ts) -------------------------------------------

  /** Records (or re-records) one epoch's losses, checkpoint and duration; fenced under `claim`. */
  recordEpoch(runId: number, e: EpochInput, claim?: Claim): Promise<void> {
    return epochs.recordEpoch(this.ctx, runId, e, claim);
  }
  /** Records where an epoch's sample images are (an artifact folder); fenced under `claim`. */
  recordSamples(runId: number, epoch: number, samples: Checkpoint, claim?: Claim): Promise<void> {
    return epochs.recordSamples(this.ctx, runId, epoch, samples, claim);
  }
  /** The checkpoint recorded under this URI (with its sha256 and size), or null. */
  checkpointByUri(uri: string): Promise<Checkpoint | null> {
    return epochs.checkpointByUri(this.ctx, uri);
  }
  /** Bulk idempotent epoch write; a later row for a key wins. */
  recordEpochRows(rows: (EpochInput & { runId: number })[]): Promise<number> {
    return epochs.recordEpochRows(this.ctx, rows);
  }
  /** Records (or replaces) metric values of one run at one epoch; fenced under `claim`. */
  recordMetrics(
    runId: number,
    epoch: number,
    values: MetricInput[],
    claim?: Claim,
  ): Promise<number> {
    return metrics.recordMetrics(this.ctx, runId, epoch, values, claim);
  }
  /** Bulk idempotent metric write, each chunk in a transaction with its run_best refresh. */
  recordMetricRows(rows: MetricRow[]): Promise<number> {
    return metrics.recordMetricRows(this.ctx, rows);
  }
  /** Every epoch of a run with its losses, checkpoint and all metrics (ascending epoch). */
  runEpochs(runId: number): Promise<EpochRow[]> {
    return epochs.runEpochs(this.ctx, runId);
  }
  /** Metric names recorded (in a sweep, or anywhere), sorted. */
  metricNames(opts: { sweep?: string } = {}): Promise<string[]> {
    return metrics.metricNames(this.ctx, opts);
  }

  // ---- selection and summaries (best.ts) ----------------------------------------------------

  /** The best epoch by a metric within a run, a sweep or the whole store; null when none. */
  best(q: BestQuery): Promise<BestResult | null> {
    return selection.best(this.ctx, q);
  }
  /** Metric A against metric B over every (run, epoch) of a sweep where both were recorded. */
  correlationPoints(q: { sweep: string; a: string; b: string }): Promise<CorrelationPoints> {
    return selection.correlationPoints(this.ctx, q);
  }
  /** Compact state of a sweep for progress displays (one row per run). */
  progress(sweep: string): Promise<ProgressSnapshot> {
    return selection.progress(this.ctx, sweep);
  }

  // ---- workers (workers.ts) -----------------------------------------------------------------

  registerWorker(w: {
    id: string;
    hostname: string;
    pid?: number | null;
    info?: JsonValue;
    status?: string;
  }): Promise<WorkerRow> {
    return workers.registerWorker(this.ctx, w);
  }
  heartbeat(id: string, status?: string): Promise<void> {
    return workers.heartbeat(this.ctx, id, status);
  }
  listWorkers(): Promise<WorkerRow[]> {
    return workers.listWorkers(this.ctx);
  }

  // ---- owners, tags and notes (annotations.ts) ----------------------------------------------

  /** Records who launched a sweep unless someone already is (the first launcher owns it). */
  claimSweepOwner(sweep: string, owner: string): Promise<string | null> {
    return notes.claimSweepOwner(this.ctx, sweep, owner);
  }
  setTags(target: notes.AnnotationTarget, tags: string[]): Promise<string[]> {
    return notes.setTags(this.ctx, target, tags);
  }
  addNote(target: notes.AnnotationTarget, author: string, text: string): Promise<NoteRow> {
    return notes.addNote(this.ctx, target, author, text);
  }
  annotations(target: notes.AnnotationTarget): Promise<Annotations> {
    return notes.annotations(this.ctx, target);
  }
  listLabels(): ReturnType<typeof notes.listLabels> {
    return notes.listLabels(this.ctx);
  }

  // ---- API tokens (apiTokens.ts) ------------------------------------------------------------

  /** Creates a token and returns it in clear; only its sha256 is stored. */
  createToken(name: string): Promise<string> {
    return apiTokens.createToken(this.ctx, name);
  }
  /** The token's name when it is valid (not revoked), else null. */
  verifyToken(token: string): Promise<string | null> {
    return apiTokens.verifyToken(this.ctx, token);
  }
  revokeToken(name: string): Promise<boolean> {
    return apiTokens.revokeToken(this.ctx, name);
  }
  listTokens(): Promise<{ name: string; createdAt: string; revoked: boolean }[]> {
    return apiTokens.listTokens(this.ctx);
  }
}
