// The Dispatcher port over JetStream: jobs go to the trial or evaluation work queue (one stream
// each, so trainers and evaluators pull their own), events to the sweep's events subject (kept in
// a stream so a follower that reconnects reads what it missed).
import { DeliverPolicy, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Dispatcher, Job, SweepEvent } from '@fidlab/experiments';
import type { Topology } from './topology.js';
import {
  decodeEvent,
  encodeEvent,
  encodeJob,
  jobMessageId,
  WIRE_VERSION,
  type EventMessage,
} from './wire.js';

export interface SubmitResult {
  /** False when the broker already held this job (same Nats-Msg-Id within the window). */
  queued: boolean;
  stream: string;
  seq: number;
}

export class NatsDispatcher implements Dispatcher {
  readonly js: JetStreamClient;

  constructor(
    readonly nc: NatsConnection,
    readonly topology: Topology,
    /** Who publishes events (a worker id), null for submitters. */
    readonly worker: string | null = null,
  ) {
    this.js = jetstream(nc, { timeout: 10_000 });
  }

  /**
   * Queues a job. `attempt` (the run's attempt; `sweep retry` bumps it) is part of the message id,
   * so the same job submitted twice at once is queued once, and a retry is a new job.
   */
  async submit(job: Job, opts: { attempt?: number } = {}): Promise<void> {
    await this.publish(job, opts);
  }

  /** submit() that says whether the job was queued or was a duplicate. */
  async publish(
    job: Job,
    opts: { attempt?: number; requeue?: string } = {},
  ): Promise<SubmitResult> {
    const attempt = opts.attempt ?? 0;
    // A requeue of a job the broker lost reuses its attempt but needs an id of its own.
    const id = jobMessageId(job, attempt) + (opts.requeue ? `:requeue-${opts.requeue}` : '');
    const { names } = this.topology;
    const ack = await this.js.publish(
      names.jobSubject(job.kind, job.sweep, job.runId),
      encodeJob({ v: WIRE_VERSION, attempt, submittedAt: Date.now(), job }),
      { msgID: id },
    );
    return { queued: !ack.duplicate, stream: ack.stream, seq: ack.seq };
  }

  /** Publishes an event; `id` (Nats-Msg-Id) makes a retried publish land once. */
  async emit(event: SweepEvent, id?: string): Promise<void> {
    await this.js.publish(
      this.topology.names.eventSubject(event.sweep),
      encodeEvent({ v: WIRE_VERSION, at: Date.now(), worker: this.worker, event }),
      id ? { msgID: id } : {},
    );
  }

  /** Events of one sweep published from now on (`since`: from that time), until `signal` aborts. */
  events(sweep: string, signal?: AbortSignal, since?: Date): AsyncIterable<SweepEvent> {
    const messages = () => this.eventMessages(sweep, signal, since);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const m of messages()) yield m.event;
      },
    };
  }

  async *eventMessages(
    sweep: string,
    signal?: AbortSignal,
    since?: Date,
  ): AsyncGenerator<EventMessage> {
    const { names } = this.topology;
    const consumer = await this.js.consumers.get(names.eventStream, {
      filter_subjects: names.eventSubject(sweep),
      ...(since
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() }
        : { deliver_policy: DeliverPolicy.New }),
    });
    const messages = await consumer.consume({ max_messages: 256 });
    const stop = () => void messages.stop();
    signal?.addEventListener('abort', stop);
    try {
      if (signal?.aborted) return;
      for await (const m of messages) {
        try {
          yield decodeEvent(m.data);
        } catch {
          // An event this build cannot read is skipped: events are informative only.
        }
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      await messages.close().catch(() => {});
    }
  }
}
