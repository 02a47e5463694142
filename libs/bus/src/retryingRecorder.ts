// Store writes that survive a database restart: every Recorder call is retried with exponential
// backoff while the failure is a lost connection (never when the store refused the write, e.g. a
// stale claim). Every recorder method is idempotent (upserts keyed by run/epoch/name), so a retry
// after a write that committed but whose answer was lost changes nothing.
import type { Recorder } from '@fidlab/experiments';

/** The store refused a write because a newer claim on the run exists (fencing). */
export function isStaleClaim(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'STALE_CLAIM';
}

const TRANSIENT = [
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH/,
  /Connection terminated/i,
  /terminating connection/i,
  /server closed the connection/i,
  /Can't reach database server/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /connection (is )?closed|Client has encountered a connection error/i,
  /Timed out fetching a new connection/i,
  /\b(P1001|P1002|P1017|P2024|57P01|57P02|57P03|08000|08003|08006)\b/,
];

/** A failure worth retrying: the database was unreachable, not a refusal of the write. */
export function isRetryable(err: unknown): boolean {
  if (isStaleClaim(err)) return false;
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const text = `${(e as { code?: unknown }).code ?? ''} ${(e as Error).message ?? String(e)}`;
    if (TRANSIENT.some((re) => re.test(text))) return true;
  }
  return false;
}

export interface RetryOptions {
  /** Give up after this long of consecutive failures (then the job fails and is retried later). */
  maxElapsedMs?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Called between tries (a worker keeps its lease alive while the database is away). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const maxElapsed = o.maxElapsedMs ?? 120_000;
  let delay = o.initialDelayMs ?? 200;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isRetryable(e) || Date.now() - started > maxElapsed) throw e;
      o.onRetry?.(e, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, o.maxDelayMs ?? 5_000);
    }
  }
}

/** The recorder with every method retried on transient database failures. */
export function retryingRecorder(inner: Recorder, o: RetryOptions = {}): Recorder {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) =>
        withRetry(() => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args), o);
    },
  });
}
