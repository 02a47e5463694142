// Creates (idempotently) the streams, consumers and KV bucket of wire.ts with the settings that
// give the guarantees: file storage (a restarted broker keeps every queued job), work-queue
// retention (a job leaves the queue when acked), explicit acks with a lease (`ack_wait`), and
// `max_deliver`. Each role's consumer is durable and shared by every worker of that role.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { busNames, type BusNames } from './wire.js';

/** Queue settings; the defaults suit real trials, tests shrink them. */
export interface BusSettings {
  /** Subject/stream prefix (tests use their own). */
  prefix: string;
  /** Lease: a job not acked, nor marked in progress, within this time is redelivered. */
  ackWaitMs: number;
  /** Deliveries of one job before it goes to the dead letters. */
  maxDeliver: number;
  /** Delay before the n-th redelivery of a failed job (the last entry repeats). */
  backoffMs: number[];
  /** `Nats-Msg-Id` de-duplication window: the same job submitted twice within it is kept once. */
  duplicateWindowMs: number;
  /** A worker not heard from for this long vanishes from the registry (KV TTL). */
  workerTtlMs: number;
  /** How long sweep events are kept (followers that reconnect read what they missed). */
  eventMaxAgeMs: number;
}

export const DEFAULT_BUS_SETTINGS: BusSettings = {
  prefix: 'fidlab',
  // 30 s: a heartbeat every ~7 s (ackWait/4) keeps a long epoch alive; a dead worker's job comes
  // back within half a minute.
  ackWaitMs: 30_000,
  maxDeliver: 5,
  backoffMs: [1_000, 5_000, 15_000, 30_000],
  // Two submitters of one sweep publish within seconds; ten minutes leaves room for slow starts.
  duplicateWindowMs: 10 * 60_000,
  workerTtlMs: 30_000,
  eventMaxAgeMs: 7 * 24 * 3600_000,
};

export function busSettings(over: Partial<BusSettings> = {}): BusSettings {
  const s = { ...DEFAULT_BUS_SETTINGS, ...over };
  if (s.maxDeliver < 1) throw new Error(`maxDeliver must be >= 1, got ${s.maxDeliver}`);
  if (s.backoffMs.length === 0) throw new Error('backoffMs must name at least one delay');
  return s;
}

async function ensureStream(
  jsm: JetStreamManager,
  cfg: Parameters<JetStreamManager['streams']['add']>[0] & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    await jsm.streams.update(cfg.name, cfg);
  } catch (e) {
    if (!/not found/i.test((e as Error).message)) throw e;
    await jsm.streams.add(cfg);
  }
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  filter: string,
  s: BusSettings,
): Promise<void> {
  const cfg = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(s.ackWaitMs),
    max_deliver: s.maxDeliver,
    deliver_policy: DeliverPolicy.All,
    filter_subject: filter,
    // Enough outstanding jobs for every worker of a large pool at once.
    max_ack_pending: 10_000,
    max_waiting: 4096,
  };
  try {
    await jsm.consumers.info(stream, durable);
    await jsm.consumers.update(stream, durable, {
      ack_wait: cfg.ack_wait,
      max_deliver: cfg.max_deliver,
      max_ack_pending: cfg.max_ack_pending,
      max_waiting: cfg.max_waiting,
    });
  } catch (e) {
    if (!/not found/i.test((e as Error).message)) throw e;
    await jsm.consumers.add(stream, cfg);
  }
}

export interface Topology {
  names: BusNames;
  settings: BusSettings;
  jsm: JetStreamManager;
  workers: KV;
}

/**
 * The subjects of a stream matching `filter` that hold at least one message: one stream-info
 * request (paged by the client), which, unlike a consumer, does not follow later writes.
 */
export async function streamSubjects(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): Promise<string[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return Object.keys((info.state.subjects as Record<string, number> | undefined) ?? {});
}

/** Creates or updates everything the bus uses; safe to call from every process at start. */
export async function ensureTopology(nc: NatsConnection, settings: BusSettings): Promise<Topology> {
  const names = busNames(settings.prefix);
  const jsm = await jetstreamManager(nc);
  const dup = nanos(settings.duplicateWindowMs);
  for (const [name, subjects] of [
    [names.trialStream, names.trialSubjects],
    [names.evalStream, names.evalSubjects],
  ] as const) {
    await ensureStream(jsm, {
      name,
      subjects: [subjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: dup,
      discard: DiscardPolicy.Old,
    });
  }
  await ensureStream(jsm, {
    name: names.eventStream,
    subjects: [names.eventSubjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(settings.eventMaxAgeMs),
    duplicate_window: nanos(Math.min(settings.duplicateWindowMs, settings.eventMaxAgeMs)),
  });
  await ensureStream(jsm, {
    name: names.deadStream,
    subjects: [names.deadSubjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: dup,
  });
  await ensureConsumer(jsm, names.trialStream, names.trialConsumer, names.trialSubjects, settings);
  await ensureConsumer(jsm, names.evalStream, names.evalConsumer, names.evalSubjects, settings);
  const workers = await new Kvm(nc).create(names.workersBucket, {
    ttl: settings.workerTtlMs,
    history: 1,
    // File storage: the bucket must outlive a broker restart (entries still expire by TTL).
    storage: StorageType.File,
  });
  return { names, settings, jsm, workers };
}

/**
 * Settings from FIDLAB_BUS_* environment variables (every process of a deployment must agree on
 * them): PREFIX, ACK_WAIT_MS, MAX_DELIVER, BACKOFF_MS (comma-separated), DUPLICATE_WINDOW_MS,
 * WORKER_TTL_MS.
 */
export function busSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): BusSettings {
  const int = (name: string) => {
    const v = env[`FIDLAB_BUS_${name}`];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`FIDLAB_BUS_${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
  const over: Partial<BusSettings> = {};
  if (env.FIDLAB_BUS_PREFIX) over.prefix = env.FIDLAB_BUS_PREFIX;
  const set = <K extends keyof BusSettings>(k: K, v: BusSettings[K] | undefined) => {
    if (v !== undefined) over[k] = v;
  };
  set('ackWaitMs', int('ACK_WAIT_MS'));
  set('maxDeliver', int('MAX_DELIVER'));
  set('duplicateWindowMs', int('DUPLICATE_WINDOW_MS'));
  set('workerTtlMs', int('WORKER_TTL_MS'));
  if (env.FIDLAB_BUS_BACKOFF_MS) {
    const b = env.FIDLAB_BUS_BACKOFF_MS.split(',').map(Number);
    if (b.some((x) => !Number.isFinite(x) || x < 0))
      throw new Error(
        `FIDLAB_BUS_BACKOFF_MS must be comma-separated milliseconds, got '${env.FIDLAB_BUS_BACKOFF_MS}'`,
      );
    over.backoffMs = b;
  }
  return busSettings(over);
}
