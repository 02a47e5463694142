// Plain row shapes the store returns (no Prisma types leak out: dates are ISO strings, sizes numbers).
// Sweep and run rows are the sweep engine's port rows (RecordedSweep, RecordedRun) plus timestamps.
import type {
  Goal,
  JsonValue,
  MetricRecord,
  RecordedRun,
  RecordedSweep,
  RunStatus as PortRunStatus,
  SweepStatus as PortSweepStatus,
} from '@fidlab/experiments';

export type { Goal, JsonValue };

export const SWEEP_STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const;
export type SweepStatus = (typeof SWEEP_STATUSES)[number];
export const RUN_STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
// The lists above name exactly the port's statuses (a compile error here otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type True<T extends true> = T;
type _StatusesMatchThePort = True<
  Same<SweepStatus, PortSweepStatus> & Same<RunStatus, PortRunStatus>
>;

export interface SweepRow extends RecordedSweep {
  createdAt: string;
  updatedAt: string;
}

export interface SweepSummary extends SweepRow {
  /** Number of runs in each status. */
  runs: Partial<Record<RunStatus, number>>;
}

export interface RunRow extends RecordedRun {
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What the lost-job check reads of an unfinished run, and what requeueing it needs. */
export interface UnfinishedRunRow {
  id: number;
  sweep: string;
  key: string;
  status: RunStatus;
  attempt: number;
  parameters: JsonValue;
  runDir: string | null;
}

export interface RunSummary extends RunRow {
  /** Highest recorded epoch (null before the first). */
  lastEpoch: number | null;
  /** Latest value of each metric. */
  last: Record<string, number>;
  /** Best per metric in both directions (from the summary table). */
  best: Record<string, { min: number; minEpoch: number; max: number; maxEpoch: number }>;
  /**
   * Evaluation protocols of each metric's values in this run, distinct and ascending (a value
   * recorded without one counts as DEFAULT_PROTOCOL). More than one: the curve mixes protocols.
   */
  protocols: Record<string, number[]>;
  /** Evaluation protocol of each metric's latest value (the one in `last`). */
  lastProtocol: Record<string, number>;
}

export interface Checkpoint {
  uri: string;
  sha256?: string | null;
  bytes?: number | null;
}

export interface EpochInput {
  epoch: number;
  losses?: Record<string, number>;
  checkpoint?: Checkpoint | null;
  seconds?: number | null;
}

/**
 * The evaluation protocol of a metric value recorded without one (no `extra.protocol`): values
 * written before protocols were recorded are version 1. What each version means is defined by
 * the code that evaluates (EVALUATION_PROTOCOL in @fidlab/experiments).
 */
export const DEFAULT_PROTOCOL = 1;

/** A metric value's evaluation protocol: `extra.protocol` when it is one, else DEFAULT_PROTOCOL. */
export function protocolOf(extra: unknown): number {
  const p =
    extra !== null && typeof extra === 'object' && !Array.isArray(extra)
      ? (extra as Record<string, unknown>).protocol
      : undefined;
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 2_147_483_647
    ? p
    : DEFAULT_PROTOCOL;
}

/**
 * One metric value as written: the sweep engine's row (ports.ts `MetricRecord`, one shape for
 * the engine, the evaluator and the store). `extra.protocol` (a positive integer) is its
 * evaluation protocol, `extra.recipe` its complete recipe (@fidlab/features ValueRecipe).
 */
export type MetricInput = MetricRecord;

export interface MetricRow extends MetricInput {
  runId: number;
  epoch: number;
}

export interface EpochRow {
  epoch: number;
  losses: Record<string, number>;
  checkpoint: Checkpoint | null;
  /** The epoch's sample images as an artifact folder (when its checkpoint is an artifact). */
  samples?: Checkpoint | null;
  seconds: number | null;
  /** metric name -> value at this epoch */
  metrics: Record<string, number>;
  /** metric name -> full record (CI, extractor, sample counts, extra) */
  details: Record<string, Omit<MetricInput, 'name'>>;
  /** metric name -> evaluation protocol of its value (extra.protocol, else DEFAULT_PROTOCOL) */
  protocols: Record<string, number>;
}

export interface BestQuery {
  metric: string;
  goal?: Goal;
  /** Scope: a run id, or a sweep name; neither means every run in the store. */
  run?: number;
  sweep?: string;
  /** Only runs whose parameters hold these values (e.g. `{ model: 'vae' }`). */
  where?: Record<string, string | number>;
}

export interface BestResult {
  sweep: string;
  runId: number;
  /** The run's key within its sweep. */
  run: string;
  parameters: JsonValue;
  epoch: number;
  metric: string;
  goal: Goal;
  value: number;
  checkpoint: string | null;
  checkpointSha256: string | null;
  /** Every metric recorded at that same epoch (including the one selected on). */
  metrics: Record<string, number>;
  /** Evaluation protocol of the selected value (extra.protocol, else DEFAULT_PROTOCOL). */
  protocol: number;
  /** Evaluation protocol of every metric in `metrics`. */
  protocols: Record<string, number>;
  /** The selected value's recipe (`extra.recipe`; null when recorded without one). */
  recipe: JsonValue | null;
  /** The recipe of every metric in `metrics` (null where a value has none). */
  recipes: Record<string, JsonValue | null>;
  /**
   * True when every value of the metric in the scope has exactly the selected value's recipe:
   * the best was chosen among comparable values. False otherwise, and for a value without one.
   */
  comparable: boolean;
}

/**
 * Metric a against metric b at every (run, epoch) of a sweep where both were recorded: the points
 * only (the api computes the coefficients with fid-core's correlate). protocolA / protocolB: the
 * evaluation protocols of the two values; recipeA / recipeB: their recipes (`extra.recipe`, null
 * when recorded without one). `Recipe` is how a recipe travels: the store's is the recipe itself;
 * the api's CorrelationResult carries recipe ids in the same shape.
 */
export interface CorrelationPoints<Recipe = JsonValue | null> {
  sweep: string;
  a: string;
  b: string;
  points: {
    runId: number;
    run: string;
    epoch: number;
    a: number;
    b: number;
    protocolA: number;
    protocolB: number;
    recipeA: Recipe;
    recipeB: Recipe;
  }[];
}

export interface WorkerRow {
  id: string;
  hostname: string;
  pid: number | null;
  info: JsonValue | null;
  status: string;
  startedAt: string;
  lastSeenAt: string;
}

export interface ProgressSnapshot {
  sweep: string;
  status: SweepStatus;
  runs: {
    id: number;
    key: string;
    status: RunStatus;
    attempt: number;
    lastEpoch: number | null;
    last: Record<string, number>;
  }[];
}

export interface NoteRow {
  id: number;
  sweepId: number;
  /** null: a note on the sweep itself. */
  runId: number | null;
  /** The name of the token that wrote it. */
  author: string;
  text: string;
  createdAt: string;
}

/** Who launched the sweep, the target's tags and its notes. */
export interface Annotations {
  owner: string | null;
  tags: string[];
  notes: NoteRow[];
}
