// Everything that crosses the wire, in one place: subjects, streams, consumers, the KV bucket and
// every message (zod), each message stamped with WIRE_VERSION. A reader refuses a version it does
// not know (WireVersionError) instead of guessing; the worker sends such a job to the dead letters.
//
// Layout (prefix P, default "fidlab"; tests use their own prefix so they never share streams):
//   stream  P_trials      work queue, subjects P.jobs.trial.<sweep>.<run id>   consumer "trainers"
//   stream  P_evals       work queue, subjects P.jobs.eval.<sweep>.<run id>    consumer "evaluators"
// (one subject per run: whether a run's job is still queued is one direct lookup, see lostRuns)
//   stream  P_events      limits (max age), subjects P.events.<sweep>   read by followers
//   stream  P_dead        limits, subjects P.dead.<trial|eval|invalid>  read by retry / coordinator
//   KV      P_workers     one key per worker id, TTL = the registry's vanish time
// <sweep> is the sweep name in base64url (names may hold '.', '*', '>' or spaces; subjects may not).
import { z } from 'zod';
import type {
  CheckpointEvaluationJob,
  Job,
  SweepEvent,
  SweepSpec,
  TrialJob,
} from '@fidlab/experiments';

/** The version of every message below; bump it when a shape changes incompatibly. */
export const WIRE_VERSION = 1;

export type JobKind = Job['kind'];

export interface BusNames {
  prefix: string;
  trialStream: string;
  evalStream: string;
  eventStream: string;
  deadStream: string;
  trialConsumer: string;
  evalConsumer: string;
  workersBucket: string;
  jobSubject(kind: JobKind, sweep: string, runId: number): string;
  /** Every run's job subject of one sweep (a filter: `...<sweep>.*`). */
  sweepJobSubjects(kind: JobKind, sweep: string): string;
  eventSubject(sweep: string): string;
  deadSubject(kind: JobKind | 'invalid'): string;
  /** Wildcards of each stream, in the order of the streams above. */
  trialSubjects: string;
  evalSubjects: string;
  eventSubjects: string;
  deadSubjects: string;
}

/** Subject token of a sweep name (base64url: [A-Za-z0-9_-], never '.', '*' or '>'). */
export function sweepToken(sweep: string): string {
  return Buffer.from(sweep, 'utf8').toString('base64url') || '_';
}

export function busNames(prefix = 'fidlab'): BusNames {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix))
    throw new Error(`bus prefix '${prefix}' must match [A-Za-z0-9_-]+`);
  const kindToken = (k: JobKind) => (k === 'trial' ? 'trial' : 'eval');
  return {
    prefix,
    trialStream: `${prefix}_trials`,
    evalStream: `${prefix}_evals`,
    eventStream: `${prefix}_events`,
    deadStream: `${prefix}_dead`,
    trialConsumer: 'trainers',
    evalConsumer: 'evaluators',
    workersBucket: `${prefix}_workers`,
    jobSubject: (kind, sweep, runId) =>
      `${prefix}.jobs.${kindToken(kind)}.${sweepToken(sweep)}.${runId}`,
    sweepJobSubjects: (kind, sweep) => `${prefix}.jobs.${kindToken(kind)}.${sweepToken(sweep)}.*`,
    eventSubject: (sweep) => `${prefix}.events.${sweepToken(sweep)}`,
    deadSubject: (kind) => `${prefix}.dead.${kind === 'invalid' ? 'invalid' : kindToken(kind)}`,
    trialSubjects: `${prefix}.jobs.trial.>`,
    evalSubjects: `${prefix}.jobs.eval.>`,
    eventSubjects: `${prefix}.events.>`,
    deadSubjects: `${prefix}.dead.>`,
  };
}

/**
 * `Nats-Msg-Id` of a job: the same job submitted twice within the duplicate window is stored once.
 * An evaluation's id holds its trial's claim generation: when a trainer dies after queueing an
 * epoch's evaluation, that job is refused (stale claim) and the run's next holder queues the same
 * checkpoint again under its own claim, which must not be dropped as a duplicate.
 */
export function jobMessageId(job: Job, attempt: number): string {
  return job.kind === 'trial'
    ? `trial:${job.sweep}:${job.runKey}:${attempt}`
    : `eval:${job.sweep}:${job.runKey}:${job.epoch}:${job.checkpoint.uri}:${attempt}` +
        (job.claim ? `:g${job.claim.generation}` : '');
}

// ---- messages ---------------------------------------------------------------------------------

const json: z.ZodType<unknown> = z.unknown();
const checkpointRef = z.object({
  uri: z.string().min(1),
  sha256: z.string().nullish(),
  bytes: z.number().nullish(),
});

const claim = z.object({
  runId: z.number().int().positive(),
  workerId: z.string().min(1),
  generation: z.number().int(),
});

const trialJob = z.object({
  kind: z.literal('trial'),
  sweep: z.string().min(1),
  runId: z.number().int().positive(),
  runKey: z.string().min(1),
  // The sweep as submitted; the engine validated it before submitting and validates it again.
  spec: z.record(z.string(), json),
  parameters: z.record(z.string(), json),
  runDir: z.string(),
  label: z.string().optional(),
  // What each checkpoint's evaluation needs (data, split, direction, resolved metrics).
  evaluation: json.optional(),
  claim: claim.optional(),
});

const evaluationJob = z.object({
  kind: z.literal('evaluation'),
  sweep: z.string().min(1),
  runId: z.number().int().positive(),
  runKey: z.string().min(1),
  epoch: z.number().int().nonnegative(),
  checkpoint: checkpointRef,
  evaluation: json,
  label: z.string().optional(),
  // The claim of the trial that wrote the checkpoint: its values are recorded under it.
  claim: claim.optional(),
});

const jobSchema = z.discriminatedUnion('kind', [trialJob, evaluationJob]);

/** A job on a work queue. `attempt` is the run's attempt when submitted (retry bumps it). */
const jobMessage = z.object({
  v: z.literal(WIRE_VERSION),
  attempt: z.number().int().nonnegative(),
  submittedAt: z.number(),
  job: jobSchema,
});
export interface JobMessage {
  v: typeof WIRE_VERSION;
  attempt: number;
  /** Epoch milliseconds at publish (dispatch latency = start - submittedAt). */
  submittedAt: number;
  job: Job;
}

const sweepEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('log'),
    sweep: z.string(),
    runId: z.number().optional(),
    line: z.string(),
  }),
  z.object({
    type: z.literal('checkpoint'),
    sweep: z.string(),
    runId: z.number(),
    epoch: z.number(),
    checkpoint: checkpointRef,
  }),
  z.object({
    type: z.literal('metrics'),
    sweep: z.string(),
    runId: z.number(),
    epoch: z.number(),
    values: z.array(z.object({ name: z.string(), value: z.number() })),
  }),
  z.object({
    type: z.literal('trial-finished'),
    sweep: z.string(),
    runId: z.number(),
    status: z.enum(['done', 'failed', 'cancelled']),
    error: z.string().optional(),
  }),
]);
const eventMessage = z.object({
  v: z.literal(WIRE_VERSION),
  at: z.number(),
  worker: z.string().nullable(),
  event: sweepEvent,
});
export interface EventMessage {
  v: typeof WIRE_VERSION;
  at: number;
  worker: string | null;
  event: SweepEvent;
}

/** A job that will not be retried any more, with why. `payload` is the job as received. */
const deadLetter = z.object({
  v: z.literal(WIRE_VERSION),
  at: z.number(),
  worker: z.string(),
  kind: z.enum(['trial', 'evaluation', 'invalid']),
  sweep: z.string().nullable(),
  runId: z.number().nullable(),
  runKey: z.string().nullable(),
  deliveries: z.number(),
  error: z.string(),
  payload: z.string(),
});
export type DeadLetter = z.infer<typeof deadLetter>;

export const WORKER_ROLES = ['trainer', 'evaluator', 'any'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

/** A worker's entry in the registry (KV), rewritten on every heartbeat. */
const workerEntry = z.object({
  v: z.literal(WIRE_VERSION),
  id: z.string(),
  host: z.string(),
  pid: z.number(),
  role: z.enum(WORKER_ROLES),
  gpu: z.string().nullable(),
  backend: z.string().nullable(),
  startedAt: z.number(),
  heartbeatAt: z.number(),
  job: z
    .object({
      kind: z.enum(['trial', 'evaluation']),
      sweep: z.string(),
      runId: z.number(),
      runKey: z.string(),
      epoch: z.number().nullable(),
      since: z.number(),
    })
    .nullable(),
  jobsDone: z.number(),
  jobsFailed: z.number(),
});
export type WorkerEntry = z.infer<typeof workerEntry>;

// ---- reading ----------------------------------------------------------------------------------

/** A message whose schema version this process does not know. */
export class WireVersionError extends Error {
  override name = 'WireVersionError';
  constructor(
    readonly what: string,
    readonly version: unknown,
  ) {
    super(
      `${what}: unknown wire schema version ${JSON.stringify(version)} (this build reads v${WIRE_VERSION})`,
    );
  }
}

/** A message that does not match its schema; the message names the first bad field. */
export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

function decode<T>(schema: z.ZodType<unknown>, what: string, data: Uint8Array | string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
  } catch (e) {
    throw new WireFormatError(`${what}: not JSON (${(e as Error).message})`);
  }
  const v = (raw as { v?: unknown } | null)?.v;
  if (v !== WIRE_VERSION) throw new WireVersionError(what, v);
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new WireFormatError(
      `${what}: ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
    );
  }
  return r.data as T;
}

export const decodeJob = (data: Uint8Array | string) =>
  decode<JobMessage>(jobMessage, 'job message', data);
export const decodeEvent = (data: Uint8Array | string) =>
  decode<EventMessage>(eventMessage, 'event message', data);
export const decodeDeadLetter = (data: Uint8Array | string) =>
  decode<DeadLetter>(deadLetter, 'dead letter', data);
export const decodeWorkerEntry = (data: Uint8Array | string) =>
  decode<WorkerEntry>(workerEntry, 'worker entry', data);

/** Serialises a message (already typed; checked again so nothing malformed leaves). */
function encode(schema: z.ZodType<unknown>, what: string, msg: unknown): string {
  const r = schema.safeParse(msg);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new WireFormatError(`${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return JSON.stringify(msg);
}

export const encodeJob = (m: JobMessage) => encode(jobMessage, 'job message', m);
export const encodeEvent = (m: EventMessage) => encode(eventMessage, 'event message', m);
export const encodeDeadLetter = (m: DeadLetter) => encode(deadLetter, 'dead letter', m);
export const encodeWorkerEntry = (m: WorkerEntry) => encode(workerEntry, 'worker entry', m);

/** Best effort: the run a malformed job names, so that it can still be marked failed. */
export function looseJobIdentity(data: Uint8Array): {
  kind: JobKind | null;
  sweep: string | null;
  runId: number | null;
  runKey: string | null;
} {
  try {
    const j = (JSON.parse(new TextDecoder().decode(data)) as { job?: Record<string, unknown> })
      ?.job;
    return {
      kind: j?.kind === 'trial' || j?.kind === 'evaluation' ? j.kind : null,
      sweep: typeof j?.sweep === 'string' ? j.sweep : null,
      runId: typeof j?.runId === 'number' ? j.runId : null,
      runKey: typeof j?.runKey === 'string' ? j.runKey : null,
    };
  } catch {
    return { kind: null, sweep: null, runId: null, runKey: null };
  }
}

export type { CheckpointEvaluationJob, Job, SweepEvent, SweepSpec, TrialJob };
