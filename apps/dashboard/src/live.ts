// Live sweep state over the API's SSE `progress` subscription (one snapshot, then one per change).
import { useEffect, useState } from 'preact/hooks';
import { api, onTokenChange, type Progress } from './api';

export function useProgress(sweep: string | null): Progress | null {
  const [snap, setSnap] = useState<Progress | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => onTokenChange(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    setSnap(null);
    if (sweep === null) return;
    const sub = api.progress.subscribe(
      { sweep },
      { onData: (d) => setSnap(d as Progress), onError: () => undefined },
    );
    return () => sub.unsubscribe();
  }, [sweep, tick]);
  return snap;
}

/** Runs per status and epochs recorded, from a snapshot. */
export function tally(runs: { status: string; lastEpoch: number | null }[]) {
  const count: Record<string, number> = {};
  let epochs = 0;
  for (const r of runs) {
    count[r.status] = (count[r.status] ?? 0) + 1;
    epochs += r.lastEpoch ?? 0;
  }
  return { count, epochs, total: runs.length };
}
