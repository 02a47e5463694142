// The in-process Dispatcher behind `fidlab run`: jobs run here, one at a time, in submission
// order; a trial's `checkpoint` event runs that checkpoint's evaluation job at once, before the
// trial continues (today's order: train epoch E, evaluate E, train E+1).
import { EvaluatorCache, evaluationJobFor, runEvaluationJob } from './evaluationJob.js';
import type { Dispatcher, Job, JobContext, Recorder, SweepEvent } from './ports.js';
import { runTrialJob } from './trials/trialJob.js';

export interface InProcessDispatcherOptions {
  recorder: Recorder;
  log?: (line: string) => void;
  /** Stops the running job (a trial stops after its current step) and every queued one. */
  signal?: AbortSignal;
}

/** An unbounded queue of events for one follower. */
class EventChannel implements AsyncIterableIterator<SweepEvent> {
  private readonly buffered: SweepEvent[] = [];
  private wake: (() => void) | null = null;
  private closed = false;

  constructor(
    readonly sweep: string,
    private readonly onClose: () => void,
    signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', () => this.close(), { once: true });
    if (signal?.aborted) this.close();
  }

  push(event: SweepEvent): void {
    if (this.closed) return;
    this.buffered.push(event);
    this.wake?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.wake?.();
  }

  async next(): Promise<IteratorResult<SweepEvent>> {
    while (this.buffered.length === 0 && !this.closed)
      await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    const event = this.buffered.shift();
    return event ? { value: event, done: false } : { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<SweepEvent>> {
    this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

export class InProcessDispatcher implements Dispatcher {
  private readonly queue: Job[] = [];
  private draining: Promise<void> | null = null;
  private readonly channels = new Set<EventChannel>();
  /** Evaluators (decoded split, ground-truth features) kept across this process's jobs. */
  private readonly evaluators = new EvaluatorCache();
  private readonly log: (line: string) => void;
  private readonly signal: AbortSignal;

  constructor(private readonly opts: InProcessDispatcherOptions) {
    this.log = opts.log ?? (() => {});
    this.signal = opts.signal ?? new AbortController().signal;
  }

  async submit(job: Job): Promise<void> {
    this.queue.push(job);
    this.draining ??= this.drain().finally(() => (this.draining = null));
  }

  /** Follows one sweep's events from now on (subscribed when called, not when first read). */
  events(sweep: string, signal?: AbortSignal): AsyncIterable<SweepEvent> {
    const channel: EventChannel = new EventChannel(
      sweep,
      () => this.channels.delete(channel),
      signal,
    );
    this.channels.add(channel);
    return channel;
  }

  /** Waits for the queue to empty, then frees the evaluators. */
  async close(): Promise<void> {
    await this.draining;
    this.evaluators.dispose();
  }

  private async publish(event: SweepEvent): Promise<void> {
    for (const c of this.channels) if (c.sweep === event.sweep) c.push(event);
  }

  private async drain(): Promise<void> {
    // Jobs start on a later turn, so that the submitter can follow events before the first one.
    await Promise.resolve();
    for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.run(job);
  }

  private context(claim: JobContext['claim'], emit: JobContext['emit']): JobContext {
    return {
      recorder: this.opts.recorder,
      ...(claim ? { claim } : {}),
      emit,
      heartbeat: () => {},
      log: this.log,
      signal: this.signal,
    };
  }

  private async run(job: Job): Promise<void> {
    if (job.kind === 'evaluation') {
      try {
        await runEvaluationJob(
          job,
          this.context(job.claim, (e) => this.publish(e)),
          this.evaluators,
        );
      } catch (e) {
        this.log(
          `run ${job.runKey} epoch ${job.epoch}: evaluation failed: ${(e as Error).message}`,
        );
      }
      return;
    }
    const emit = async (event: SweepEvent): Promise<void> => {
      await this.publish(event);
      if (event.type !== 'checkpoint') return;
      const evaluation = evaluationJobFor(job, event);
      if (evaluation)
        await runEvaluationJob(
          evaluation,
          this.context(job.claim, (e) => this.publish(e)),
          this.evaluators,
        );
    };
    try {
      await runTrialJob(job, this.context(job.claim, emit));
    } catch (e) {
      // The trial could not even report (its run vanished, its claim went stale): say so.
      const message = (e as Error).message;
      this.log(`${job.label ?? `run ${job.runKey}`}: failed: ${message}`);
      await this.publish({
        type: 'trial-finished',
        sweep: job.sweep,
        runId: job.runId,
        status: 'failed',
        error: message,
      });
    }
  }
}
