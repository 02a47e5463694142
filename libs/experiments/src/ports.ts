// The sweep engine's two ports. The engine (expand a sweep, train trials, evaluate checkpoints,
// select) talks only to these interfaces: the Prisma store implements the Recorder, an in-process
// dispatcher gives `fidlab run`, the NATS bus gives distributed workers. Keep them small: every
// method here must be implementable over a network.
//
// Row shapes are plain data (JSON-safe: dates as ISO strings) so that they cross process
// boundaries unchanged. They are declared here, not imported from @fidlab/store: the store
// depends on the engine's port, not the other way round.
import type { SweepSpec } from './sweepSpec.js';

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type SweepStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';
export type RunStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';
export type Goal = 'min' | 'max';

export interface RecordedSweep {
  id: number;
  name: string;
  spec: JsonValue;
  status: SweepStatus;
}

export interface RecordedRun {
  id: number;
  sweepId: number;
  sweep: string;
  key: string;
  parameters: JsonValue;
  status: RunStatus;
  attempt: number;
  workerId: string | null;
  /** The worker holding the run's current claim (null: never claimed, or released). */
  claimedBy: string | null;
  error: string | null;
  runDir: string | null;
}

export interface CheckpointRef {
  /** Where the checkpoint lives: a path (shared filesystem) or an artifact URI (`nats-obj://...`). */
  uri: string;
  sha256?: string | null;
  bytes?: number | null;
}

export interface EpochRecord {
  epoch: number;
  losses?: Record<string, number>;
  checkpoint?: CheckpointRef | null;
  seconds?: number | null;
}

/** One value as the recorder stores it; `extra.recipe` / `extra.protocol` say how it was made. */
export interface MetricRecord {
  name: string;
  value: number;
  ciLow?: number | null;
  ciHigh?: number | null;
  extractor?: string | null;
  n1?: number | null;
  n2?: number | null;
  extra?: JsonValue | null;
}

export interface RecordedEpoch {
  epoch: number;
  losses: Record<string, number>;
  checkpoint: CheckpointRef | null;
  /** The epoch's sample images as an artifact folder (when its checkpoint is an artifact). */
  samples?: CheckpointRef | null;
  seconds: number | null;
  /** metric name -> value at this epoch */
  metrics: Record<string, number>;
  /** metric name -> evaluation protocol of its value */
  protocols: Record<string, number>;
}

export interface BestRecord {
  sweep: string;
  runId: number;
  /** The run's key within its sweep. */
  run: string;
  metric: string;
  goal: Goal;
  epoch: number;
  value: number;
  checkpoint: string | null;
}

/**
 * A worker's claim on a run. Claiming bumps the run's generation; every write made on behalf of
 * a trial shows the claim it holds, and the recorder refuses it (FidlabError STALE_CLAIM) once a
 * newer claim exists: a worker that lost its lease cannot overwrite its successor (fencing).
 */
export interface Claim {
  runId: number;
  workerId: string;
  generation: number;
}

/** What the sweep engine records. @fidlab/store implements it over Prisma. */
export interface Recorder {
  upsertSweep(input: { name: string; spec: unknown; status?: SweepStatus }): Promise<RecordedSweep>;
  getSweep(name: string): Promise<RecordedSweep | null>;
  setSweepStatus(name: string, status: SweepStatus): Promise<RecordedSweep>;

  upsertRun(input: {
    sweepId: number;
    key: string;
    parameters: unknown;
    runDir?: string | null;
  }): Promise<RecordedRun>;
  getRun(runId: number): Promise<RecordedRun | null>;
  setRunStatus(
    runId: number,
    status: RunStatus,
    opts?: { error?: string | null; workerId?: string | null; claim?: Claim },
  ): Promise<RecordedRun>;
  runEpochs(runId: number): Promise<RecordedEpoch[]>;

  /** Takes the run for `workerId`; null when another live claim holds it (unless `steal`). */
  claimRun(runId: number, workerId: string, opts?: { steal?: boolean }): Promise<Claim | null>;
  releaseClaim(claim: Claim): Promise<void>;

  /** Idempotent per (run, epoch); refused when `claim` is stale. */
  recordEpoch(runId: number, e: EpochRecord, claim?: Claim): Promise<void>;
  /** Idempotent per (run, epoch, name): re-recording replaces the value. */
  recordMetrics(
    runId: number,
    epoch: number,
    values: MetricRecord[],
    claim?: Claim,
  ): Promise<number>;
  /**
   * Where an epoch's sample images are when they are an artifact (the evaluator of a fetched
   * checkpoint uploads them; the dashboard fetches them). Optional: a recorder without it keeps
   * no samples of artifact checkpoints.
   */
  recordSamples?(
    runId: number,
    epoch: number,
    samples: CheckpointRef,
    claim?: Claim,
  ): Promise<void>;

  /** The best epoch of the sweep by the metric; `where`: only runs with these parameter values. */
  best(q: {
    sweep: string;
    metric: string;
    goal?: Goal;
    where?: Record<string, string | number>;
  }): Promise<BestRecord | null>;
}

/** Train one trial of a sweep (resuming from the last checkpoint recorded for its run). */
export interface TrialJob {
  kind: 'trial';
  sweep: string;
  runId: number;
  runKey: string;
  /** The sweep as submitted (already validated); the trial's parameters pick its point. */
  spec: SweepSpec;
  parameters: Record<string, JsonValue>;
  runDir: string;
  /** Prefix of the job's log lines (`trial 2/4 [model=unet seed=2]`); default `run <runKey>`. */
  label?: string;
  /**
   * What each checkpoint's evaluation needs but the checkpoint (an EvaluationJob without
   * `checkpoint`: data, split, direction, max_images, metrics with concrete extractors, `best`
   * references resolved at sweep start); absent for trial kinds that measure themselves.
   */
  evaluation?: JsonValue;
  /** The claim the submitter took for this trial (in-process runs); workers claim themselves. */
  claim?: Claim;
}

/** Evaluate one recorded checkpoint of a run with concrete metric recipes. */
export interface CheckpointEvaluationJob {
  kind: 'evaluation';
  sweep: string;
  runId: number;
  runKey: string;
  epoch: number;
  checkpoint: CheckpointRef;
  /** Everything the evaluator needs (data, split, direction, metrics with concrete extractors). */
  evaluation: JsonValue;
  /** Prefix of the job's log lines, as its trial's. */
  label?: string;
  /** The claim of the trial that wrote the checkpoint: the values are recorded under it. */
  claim?: Claim;
}

export type Job = TrialJob | CheckpointEvaluationJob;

/** What jobs report back to whoever follows the sweep. */
export type SweepEvent =
  | { type: 'log'; sweep: string; runId?: number; line: string }
  | { type: 'checkpoint'; sweep: string; runId: number; epoch: number; checkpoint: CheckpointRef }
  | {
      type: 'metrics';
      sweep: string;
      runId: number;
      epoch: number;
      values: { name: string; value: number }[];
    }
  | {
      type: 'trial-finished';
      sweep: string;
      runId: number;
      status: 'done' | 'failed' | 'cancelled';
      error?: string;
    };

/**
 * Moves jobs to whatever executes them and events back. In process: jobs run here, in order. Over
 * NATS: jobs go to JetStream work queues and workers publish the events.
 */
export interface Dispatcher {
  submit(job: Job): Promise<void>;
  /** Events of one sweep until `signal` aborts; the engine ends its loop on trial-finished. */
  events(sweep: string, signal?: AbortSignal): AsyncIterable<SweepEvent>;
}

/**
 * What identifies a split's ground-truth features: a change of any component is another entry,
 * so a changed recipe never reads a stale one.
 */
export interface FeatureCacheKey {
  /** sha256 over the ground-truth files' bytes and identities, in evaluation order. */
  data: string;
  split: string;
  /** The extractor's canonical name (family and tap). */
  extractor: string;
  /** sha256 of the extractor's weights; null for published weights that the name fixes. */
  weightsSha256: string | null;
  /** EVALUATION_PROTOCOL of the evaluator that computed them. */
  protocol: number;
}

/** A feature matrix, row-major ([rows, cols]), as fid-core's Matrix. */
export interface FeatureMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/**
 * Ground-truth features shared between evaluators (of one process or many machines), so that
 * ten evaluators do not each compute them. Float64 values come back bit for bit.
 */
export interface FeatureCache {
  get(key: FeatureCacheKey): Promise<FeatureMatrix | null>;
  put(key: FeatureCacheKey, features: FeatureMatrix): Promise<void>;
}

/** Which checkpoint of a sweep a checkpoint store holds (its artifact key is made of these). */
export interface CheckpointPlace {
  sweep: string;
  runKey: string;
  epoch: number;
  /** sha256 of the local checkpoint (its manifest): two different contents never share a key. */
  sha256: string;
}

/**
 * Checkpoints shared between machines through an artifact store (a shared folder or a NATS Object
 * Store bucket) instead of a shared runs directory: a trainer puts each checkpoint folder and
 * records the ref put returns; an evaluator, or a trainer resuming on another machine, fetches it.
 * Every fetch verifies the sha256 (FidlabError ARTIFACT_MISMATCH otherwise).
 */
export interface CheckpointStore {
  /** Uploads a local checkpoint folder; the ref (artifact URI, sha256, bytes) is what to record. */
  put(dir: string, at: CheckpointPlace): Promise<CheckpointRef>;
  /** True when the ref names an artifact of this store (otherwise it is a filesystem path). */
  holds(ref: CheckpointRef): boolean;
  /** Copies the checkpoint into folder `dest` (replaced), verified; nothing is left on failure. */
  fetch(ref: CheckpointRef, dest: string): Promise<void>;
  /** Uploads the sample images (folder `dir`) made from the checkpoint `of`; the ref to record. */
  putSamples(dir: string, of: CheckpointRef): Promise<CheckpointRef>;
  /** A local folder where fetched checkpoints are kept while they are evaluated. */
  readonly cacheDir: string;
}

/** What a job handler gets besides its job: where to record, how to report, when to stop. */
export interface JobContext {
  recorder: Recorder;
  /** Where evaluators share ground-truth features; absent: each evaluator computes its own. */
  featureCache?: FeatureCache;
  /** Where checkpoints are shared between machines; absent: they are shared as filesystem paths. */
  checkpoints?: CheckpointStore;
  /** The claim under which this job writes (trial jobs always hold one). */
  claim?: Claim;
  /** Publishes an event (and, for `checkpoint`, lets the dispatcher queue its evaluation). */
  emit(event: SweepEvent): Promise<void>;
  /** Called often during long work: a remote dispatcher turns it into an in-progress ack. */
  heartbeat(): void;
  log(line: string): void;
  signal: AbortSignal;
}
