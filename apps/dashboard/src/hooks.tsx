// Data loading for the pages: one query hook (re-run when its inputs or the token change), a
// "needs a token" state, and the render-time marks the browser tests read.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText, isUnauthorized, onTokenChange } from './api';
import { chartsSettled } from './charts';

export interface Query<T> {
  data: T | undefined;
  error: string | null;
  unauthorized: boolean;
  loading: boolean;
  reload(): void;
}

export function useQuery<T>(fn: () => Promise<T>, deps: unknown[], page?: string): Query<T> {
  const [state, setState] = useState<{ data?: T; error: string | null; unauthorized: boolean }>({
    error: null,
    unauthorized: false,
  });
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => onTokenChange(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    let live = true;
    setLoading(true);
    fn().then(
      (data) => {
        if (!live) return;
        if (page) performance.mark(`fidlab:data:${page}`);
        setState({ data, error: null, unauthorized: false });
        setLoading(false);
      },
      (err: unknown) => {
        if (!live) return;
        setState({ error: errorText(err), unauthorized: isUnauthorized(err) });
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, data: state.data, loading, reload: () => setTick((t) => t + 1) } as Query<T>;
}

/** Marks `fidlab:rendered:<page>` once the page's DOM is painted and its charts have finished. */
export function useRenderedMark(page: string, ready: boolean, key: unknown): void {
  useEffect(() => {
    if (!ready) return;
    let live = true;
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        void chartsSettled().then(() => {
          if (live) performance.mark(`fidlab:rendered:${page}`);
        });
      }),
    );
    return () => {
      live = false;
    };
  }, [ready, key]);
}

export function Status(props: { q: Query<unknown>; children?: ComponentChildren }) {
  if (props.q.unauthorized)
    return <p class="notice">This server needs a token to read: enter one above.</p>;
  if (props.q.error) return <p class="error">{props.q.error}</p>;
  if (props.q.loading && props.q.data === undefined) return <p class="muted">loading…</p>;
  return <>{props.children}</>;
}
