// What the trial kinds share: how a job stops, and how an epoch's values read in a log line.
import type { JobContext } from '../ports.js';

/** `fid_x=12.3 kid_x=0.0123`: the values of one epoch, short. */
export function summarise(values: { name: string; value: number }[]): string {
  return values.map((v) => `${v.name}=${Number(v.value.toPrecision(4))}`).join(' ');
}

/**
 * A signal that aborts on the job's own signal or once the sweep is cancelled in the recorder
 * (API, another CLI): `check()` reads the sweep's status, as a trial does after each epoch.
 */
export function stopWhenCancelled(
  ctx: JobContext,
  sweep: string,
): { signal: AbortSignal; check: () => Promise<void>; dispose: () => void } {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener('abort', onAbort);
  if (ctx.signal.aborted) stop.abort();
  return {
    signal: stop.signal,
    async check(): Promise<void> {
      if ((await ctx.recorder.getSweep(sweep))?.status === 'cancelled' && !stop.signal.aborted) {
        ctx.log(`sweep ${sweep} was cancelled in the store: stopping`);
        stop.abort();
      }
    },
    dispose: () => ctx.signal.removeEventListener('abort', onAbort),
  };
}

/** What a trial kind gets from runTrialJob. */
export interface TrialRun {
  label: string;
  /** Aborts on the job's signal or a cancellation in the recorder. */
  signal: AbortSignal;
  /** Reads the sweep's status and aborts `signal` when it is cancelled. */
  checkCancelled: () => Promise<void>;
}
