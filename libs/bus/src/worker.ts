// The worker loop: pull one job at a time from this role's work queue(s), run it through the
// injected handlers, and settle it with JetStream:
// - lease: the job stays ours while we send in-progress acks (ctx.heartbeat(), and a timer every
//   ackWait/4 while the job runs); a worker that dies stops sending them and the job is
//   redelivered to another worker after ack_wait;
// - claims: a trial job is claimed in the store with `steal` (a redelivered job means the old
//   holder lost its lease) and every write goes with that claim, so a worker that comes back
//   after losing its lease is refused (STALE_CLAIM) and drops the job without acking it;
// - ack only after the handler's results are committed (store writes are retried through a
//   database restart), then ackAck (the broker confirms);
// - failure: nak with backoff; on the last allowed delivery, a dead letter with the error, the
//   run marked failed with the reason, and term;
// - a message of an unknown wire version or shape is refused with one log line and dead-lettered.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { jetstream, type Consumer, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type {
  CheckpointEvaluationJob,
  Claim,
  Job,
  JobContext,
  Recorder,
  SweepEvent,
  TrialJob,
} from '@fidlab/experiments';
import { NatsDispatcher } from './dispatcher.js';
import { putWorker, removeWorker } from './registry.js';
import { isStaleClaim, retryingRecorder, type RetryOptions } from './retryingRecorder.js';
import type { Topology } from './topology.js';
import {
  decodeJob,
  encodeDeadLetter,
  looseJobIdentity,
  WIRE_VERSION,
  WireFormatError,
  WireVersionError,
  type JobMessage,
  type WorkerEntry,
  type WorkerRole,
} from './wire.js';

type CheckpointEvent = Extract<SweepEvent, { type: 'checkpoint' }>;

/** What a worker does with each kind of job; a role without its handler pulls nothing of it. */
export interface JobHandlers {
  /** Trains (or resumes) a trial; resolves when its results are committed. 'aborted': stopped. */
  trial?(job: TrialJob, ctx: JobContext): Promise<void | 'aborted' | 'completed'>;
  evaluation?(job: CheckpointEvaluationJob, ctx: JobContext): Promise<unknown>;
  /**
   * The evaluation job of a checkpoint a trial emitted (queued on the evaluation stream); null or
   * absent: the trial evaluates its own checkpoints.
   */
  evaluationFor?(
    job: TrialJob,
    event: CheckpointEvent,
    claim?: Claim,
  ): CheckpointEvaluationJob | null;
  /**
   * True when the evaluation job's values are recorded already: the job is acked without work.
   * Given this, a worker of role `any` evaluates its own trial's checkpoints itself, at once (as
   * one process does, so an epoch's values come before the next epoch is trained), and queues an
   * evaluation job only when that fails. A worker that dies first has not acked its trial: the
   * trial's next holder, resuming, evaluates the epochs left without values.
   */
  evaluated?(job: CheckpointEvaluationJob, recorder: Recorder): Promise<boolean>;
}

export interface JobTiming {
  job: Job;
  attempt: number;
  delivery: number;
  submittedAt: number;
  startedAt: number;
}

export interface WorkerOptions {
  nc: NatsConnection;
  topology: Topology;
  recorder: Recorder;
  handlers: JobHandlers;
  role?: WorkerRole;
  id?: string;
  gpu?: string | null;
  backend?: string | null;
  log?: (line: string) => void;
  /** How long one pull waits for a job before looking again (and checking for stop). */
  pullExpiresMs?: number;
  retry?: RetryOptions;
  onJobStart?(t: JobTiming): void;
  onJobEnd?(t: JobTiming & { outcome: JobOutcome }): void;
}

export type JobOutcome = 'done' | 'skipped' | 'retry' | 'dead' | 'handed-back' | 'lost-lease';

export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class BusWorker {
  readonly id: string;
  readonly role: WorkerRole;
  private readonly js: JetStreamClient;
  private readonly dispatcher: NatsDispatcher;
  private readonly recorder: Recorder;
  private readonly log: (line: string) => void;
  private stopping = false;
  private current: AbortController | null = null;
  private entry: WorkerEntry;
  private registryTimer: NodeJS.Timeout | null = null;
  private loopDone: Promise<void> | null = null;

  constructor(private readonly o: WorkerOptions) {
    this.id = o.id ?? newWorkerId();
    this.role = o.role ?? 'any';
    this.js = jetstream(o.nc, { timeout: 10_000 });
    this.dispatcher = new NatsDispatcher(o.nc, o.topology, this.id);
    this.log = o.log ?? (() => {});
    this.recorder = retryingRecorder(o.recorder, {
      ...o.retry,
      onRetry: (err, attempt, delay) => {
        this.heartbeatNow();
        this.log(
          `worker ${this.id}: store unavailable (${(err as Error).message.split('\n')[0]}); retry ${attempt} in ${delay} ms`,
        );
        o.retry?.onRetry?.(err, attempt, delay);
      },
    });
    const now = Date.now();
    this.entry = {
      v: WIRE_VERSION,
      id: this.id,
      host: hostname(),
      pid: process.pid,
      role: this.role,
      gpu: o.gpu ?? null,
      backend: o.backend ?? null,
      startedAt: now,
      heartbeatAt: now,
      job: null,
      jobsDone: 0,
      jobsFailed: 0,
    };
  }

  /** Registers, then pulls jobs until stop(); resolves when the loop has ended. */
  start(): Promise<void> {
    if (this.loopDone) return this.loopDone;
    this.loopDone = this.loop();
    return this.loopDone;
  }

  /** Stops pulling; a running job is handed back (aborted, nak'd at once). */
  stop(): Promise<void> {
    this.stopping = true;
    this.current?.abort();
    return this.loopDone ?? Promise.resolve();
  }

  private kinds(): Job['kind'][] {
    const h = this.o.handlers;
    const out: Job['kind'][] = [];
    // Evaluations first: they are short and unblock results; then trials.
    if (this.role !== 'trainer' && h.evaluation) out.push('evaluation');
    if (this.role !== 'evaluator' && h.trial) out.push('trial');
    return out;
  }

  private async register(): Promise<void> {
    this.entry.heartbeatAt = Date.now();
    await putWorker(this.o.topology.workers, this.entry).catch((e: unknown) =>
      this.log(`worker ${this.id}: registry update failed: ${(e as Error).message}`),
    );
  }

  private heartbeatNow(): void {
    void this.register();
  }

  private async loop(): Promise<void> {
    const { names, settings } = this.o.topology;
    const kinds = this.kinds();
    if (kinds.length === 0) throw new Error(`worker role ${this.role} has no job handler`);
    await this.register();
    this.registryTimer = setInterval(() => this.heartbeatNow(), settings.workerTtlMs / 3);
    this.log(
      `worker ${this.id}: ${this.role}, pulling ${kinds.join(' and ')} jobs (lease ${settings.ackWaitMs} ms, max ${settings.maxDeliver} deliveries)`,
    );
    const consumers = new Map<Job['kind'], Consumer>();
    const consumerFor = async (kind: Job['kind']) => {
      let c = consumers.get(kind);
      if (!c) {
        c =
          kind === 'trial'
            ? await this.js.consumers.get(names.trialStream, names.trialConsumer)
            : await this.js.consumers.get(names.evalStream, names.evalConsumer);
        consumers.set(kind, c);
      }
      return c;
    };
    const expires = Math.max(1000, this.o.pullExpiresMs ?? 2_000);
    try {
      while (!this.stopping) {
        for (const kind of kinds) {
          if (this.stopping) break;
          let m: JsMsg | null = null;
          try {
            const c = await consumerFor(kind);
            // With two queues, look at each for 1 s in turn (the least JetStream allows): a job
            // waiting in either is returned at once.
            m = await c.next({ expires: kinds.length > 1 ? 1000 : expires });
          } catch (e) {
            consumers.delete(kind);
            if (this.o.nc.isClosed()) {
              this.log(`worker ${this.id}: connection closed; no more jobs`);
              return;
            }
            if (!this.stopping) {
              this.log(`worker ${this.id}: pull failed (${(e as Error).message}); retrying`);
              await new Promise((r) => setTimeout(r, 500));
            }
            continue;
          }
          if (!m) continue;
          await this.process(m);
          break; // after a job, look at the first queue again
        }
      }
    } finally {
      if (this.registryTimer) clearInterval(this.registryTimer);
      await removeWorker(this.o.topology.workers, this.id).catch(() => {});
      this.log(`worker ${this.id}: stopped`);
    }
  }

  /** One job, from receipt to ack/nak/term. Never throws. */
  private async process(m: JsMsg): Promise<void> {
    const { settings } = this.o.topology;
    const delivery = m.info.deliveryCount;
    let msg: JobMessage;
    try {
      msg = decodeJob(m.data);
    } catch (e) {
      if (!(e instanceof WireVersionError || e instanceof WireFormatError)) throw e;
      this.log(
        `worker ${this.id}: refusing job message ${m.info.stream}#${m.seq} on ${m.subject}: ${e.message}; sent to the dead letters`,
      );
      const loose = looseJobIdentity(m.data);
      await this.deadLetter(m, 'invalid', loose, e.message);
      if (loose.runId !== null)
        await this.recorder
          .setRunStatus(loose.runId, 'failed', { error: `job refused: ${e.message}` })
          .catch(() => {});
      m.term(e.message);
      this.entry.jobsFailed++;
      return;
    }
    const job = msg.job;
    const timing: JobTiming = {
      job,
      attempt: msg.attempt,
      delivery,
      submittedAt: msg.submittedAt,
      startedAt: Date.now(),
    };
    this.o.onJobStart?.(timing);
    const ac = new AbortController();
    this.current = ac;
    if (this.stopping) ac.abort();
    this.entry.job = {
      kind: job.kind,
      sweep: job.sweep,
      runId: job.runId,
      runKey: job.runKey,
      epoch: job.kind === 'evaluation' ? job.epoch : null,
      since: timing.startedAt,
    };
    void this.register();
    // The lease: in-progress acks on a timer and whenever the handler reports progress.
    let lastWorking = Date.now();
    const working = () => {
      const now = Date.now();
      if (now - lastWorking < Math.min(1000, settings.ackWaitMs / 8)) return;
      lastWorking = now;
      if (!this.o.nc.isClosed()) m.working();
    };
    const timer = setInterval(
      () => {
        // A closed connection throws here; the lease then runs out, as for a dead worker.
        if (!this.o.nc.isClosed()) m.working();
      },
      Math.max(100, settings.ackWaitMs / 4),
    );
    const label = `${job.kind} ${job.sweep}/${job.runKey}${job.kind === 'evaluation' ? ` epoch ${job.epoch}` : ''}`;
    let outcome: JobOutcome;
    try {
      outcome = await this.runJob(m, job, ac.signal, working, label);
    } catch (e) {
      outcome = await this.failed(m, job, e, label);
    } finally {
      clearInterval(timer);
      this.current = null;
      this.entry.job = null;
    }
    if (outcome === 'done' || outcome === 'skipped') this.entry.jobsDone++;
    if (outcome === 'dead') this.entry.jobsFailed++;
    void this.register();
    this.o.onJobEnd?.({ ...timing, outcome });
  }

  private async runJob(
    m: JsMsg,
    job: Job,
    signal: AbortSignal,
    working: () => void,
    label: string,
  ): Promise<JobOutcome> {
    const rec = this.recorder;
    let claim: Claim | undefined;
    if (job.kind === 'trial') {
      const run = await rec.getRun(job.runId);
      if (!run) throw new PermanentJobError(`no run with id ${job.runId} in the store`);
      if (run.status === 'done' || run.status === 'cancelled') {
        // A holder that committed the end of the run and died before its trial-finished event
        // (or its ack): the event is published here, so a follower waiting on it ends the trial.
        const status = run.status;
        await this.untilPublished(
          () =>
            this.dispatcher.emit(
              { type: 'trial-finished', sweep: job.sweep, runId: job.runId, status },
              `ev:${this.id}:${randomBytes(6).toString('hex')}`,
            ),
          working,
        );
        this.log(`worker ${this.id}: ${label}: run is ${run.status} already; acked`);
        await this.ack(m);
        return 'skipped';
      }
      claim = (await rec.claimRun(job.runId, this.id, { steal: true })) ?? undefined;
      if (!claim) throw new Error(`could not claim run ${job.runId}`);
    }
    const ctx: JobContext = {
      recorder: rec,
      claim,
      emit: async (event) => {
        // A failed or stopped trial is the worker's to report: it may be retried or handed back.
        if (event.type === 'trial-finished' && (event.status === 'failed' || signal.aborted))
          return;
        // Through a broker restart: retried (each publish carries a message id, so it lands once).
        const id = `ev:${this.id}:${randomBytes(6).toString('hex')}`;
        await this.untilPublished(() => this.dispatcher.emit(event, id), working);
        if (event.type === 'checkpoint' && job.kind === 'trial') {
          const ev = this.o.handlers.evaluationFor?.(job, event, claim);
          // A worker that evaluates too measures its own checkpoint at once; the job is queued
          // only when that fails (a worker dying first leaves the epoch unevaluated, and the
          // trial's next holder evaluates it when it resumes).
          if (ev && !(this.evaluatesOwnCheckpoints && (await this.evaluateInline(ev, ctx, label))))
            await this.untilPublished(() => this.dispatcher.submit(ev), working);
        }
      },
      heartbeat: working,
      log: (line) => this.log(line),
      signal,
    };
    if (job.kind === 'evaluation' && (await this.o.handlers.evaluated?.(job, rec))) {
      this.log(`worker ${this.id}: ${label}: values recorded already; acked`);
      await this.ack(m);
      return 'skipped';
    }
    this.log(
      `worker ${this.id}: ${label}: started (delivery ${m.info.deliveryCount}${claim ? `, claim generation ${claim.generation}` : ''})`,
    );
    const handlers = this.o.handlers;
    const r =
      job.kind === 'trial' ? await handlers.trial!(job, ctx) : await handlers.evaluation!(job, ctx);
    if (signal.aborted || r === 'aborted') {
      // Hand the job back: the next worker resumes from the last recorded checkpoint.
      if (claim) {
        await rec.setRunStatus(job.runId, 'pending', { claim }).catch(() => {});
        await rec.releaseClaim(claim).catch(() => {});
      }
      m.nak();
      this.log(`worker ${this.id}: ${label}: stopped, handed back to the queue`);
      return 'handed-back';
    }
    if (claim) await rec.releaseClaim(claim).catch(() => {});
    await this.ack(m);
    this.log(`worker ${this.id}: ${label}: done`);
    return 'done';
  }

  /** Role `any` with handlers that recognise a done evaluation (see JobHandlers.evaluated). */
  private get evaluatesOwnCheckpoints(): boolean {
    const h = this.o.handlers;
    return this.role === 'any' && !!h.evaluation && !!h.evaluated;
  }

  /** A trial's own checkpoint evaluated at once; false (and a log line) when that failed. */
  private async evaluateInline(
    ev: CheckpointEvaluationJob,
    ctx: JobContext,
    label: string,
  ): Promise<boolean> {
    if (ctx.signal.aborted) return false;
    try {
      await this.o.handlers.evaluation!(ev, ctx);
      return true;
    } catch (e) {
      this.log(
        `worker ${this.id}: ${label}: epoch ${ev.epoch} not evaluated here (${(e as Error).message?.split('\n')[0]}); queued for an evaluator`,
      );
      return false;
    }
  }

  /** Retries a publish while the broker is unreachable (2 minutes at most), keeping the lease. */
  private async untilPublished(fn: () => Promise<unknown>, working: () => void): Promise<void> {
    const started = Date.now();
    for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await fn();
        return;
      } catch (e) {
        // A closed connection (closed by this process) never comes back: no point waiting.
        if (this.o.nc.isClosed() || Date.now() - started > 120_000) throw e;
        this.log(`worker ${this.id}: publish failed (${(e as Error).message}); retrying`);
        working();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Acks and waits for the broker's confirmation; a lost ack means a redelivery, which is harmless. */
  private async ack(m: JsMsg): Promise<void> {
    try {
      await m.ackAck({ expect: 10_000 } as never);
    } catch (e) {
      this.log(
        `worker ${this.id}: ack not confirmed (${(e as Error).message}); the job may be delivered again (its results are committed, so it will be skipped)`,
      );
    }
  }

  private async failed(m: JsMsg, job: Job, e: unknown, label: string): Promise<JobOutcome> {
    const { settings } = this.o.topology;
    const message = (e as Error).message?.split('\n')[0] ?? String(e);
    if (this.o.nc.isClosed()) {
      // Nothing can be acked, nak'd or dead-lettered: the job comes back after its lease.
      this.log(`worker ${this.id}: ${label}: connection closed (${message}); left to its lease`);
      return 'lost-lease';
    }
    if (isStaleClaim(e) && job.kind === 'evaluation') {
      // Values of a checkpoint written under a claim that has since moved on: the run's new
      // holder evaluates its checkpoints itself. This job is done with.
      this.log(`worker ${this.id}: ${label}: its trial's claim is stale (${message}); dropped`);
      m.term('stale claim');
      return 'lost-lease';
    }
    if (isStaleClaim(e)) {
      // Another worker holds the run now (our lease ran out); its delivery of the job is the
      // live one, so this one is neither acked nor nak'd.
      this.log(`worker ${this.id}: ${label}: lost the lease (${message}); dropping the job`);
      return 'lost-lease';
    }
    const delivery = m.info.deliveryCount;
    const last = delivery >= settings.maxDeliver || e instanceof PermanentJobError;
    if (!last) {
      const delay = settings.backoffMs[Math.min(delivery - 1, settings.backoffMs.length - 1)];
      this.log(
        `worker ${this.id}: ${label}: failed on delivery ${delivery}/${settings.maxDeliver}: ${message}; retry in ${delay} ms`,
      );
      await this.dispatcher
        .emit({
          type: 'log',
          sweep: job.sweep,
          runId: job.runId,
          line: `${label}: failed (${message}), retry ${delivery}/${settings.maxDeliver - 1}`,
        })
        .catch(() => {});
      m.nak(delay);
      return 'retry';
    }
    this.log(
      `worker ${this.id}: ${label}: failed on delivery ${delivery}/${settings.maxDeliver}: ${message}; sent to the dead letters`,
    );
    const reason =
      job.kind === 'trial'
        ? `${message} (after ${delivery} deliveries)`
        : `evaluation of epoch ${job.epoch} failed: ${message} (after ${delivery} deliveries)`;
    await this.deadLetter(m, job.kind, job, message);
    await this.recorder
      .setRunStatus(job.runId, 'failed', { error: reason })
      .catch((err: unknown) =>
        this.log(`worker ${this.id}: could not mark run ${job.runId} failed: ${String(err)}`),
      );
    await this.dispatcher
      .emit({
        type: 'trial-finished',
        sweep: job.sweep,
        runId: job.runId,
        status: 'failed',
        error: reason,
      })
      .catch(() => {});
    m.term(message.slice(0, 200));
    return 'dead';
  }

  private async deadLetter(
    m: JsMsg,
    kind: Job['kind'] | 'invalid',
    id: { sweep: string | null; runId: number | null; runKey: string | null },
    error: string,
  ): Promise<void> {
    const { names } = this.o.topology;
    const body = encodeDeadLetter({
      v: WIRE_VERSION,
      at: Date.now(),
      worker: this.id,
      kind,
      sweep: id.sweep,
      runId: id.runId,
      runKey: id.runKey,
      deliveries: m.info.deliveryCount,
      error,
      payload: new TextDecoder().decode(m.data),
    });
    await this.js
      .publish(names.deadSubject(kind), body, { msgID: `dead:${m.info.stream}:${m.seq}` })
      .catch((e: unknown) =>
        this.log(`worker ${this.id}: could not publish the dead letter: ${String(e)}`),
      );
  }
}

/** A job that can never succeed (its run is gone): dead-lettered at once. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}
