// The worker registry: one KV entry per worker, rewritten on every heartbeat. The bucket's TTL
// (BusSettings.workerTtlMs) removes the entry of a worker that stopped beating, so a vanished
// worker disappears from `fidlab workers` within that time; a worker that exits cleanly deletes
// its own entry at once.
import type { KV } from '@nats-io/kv';
import { decodeWorkerEntry, encodeWorkerEntry, type WorkerEntry } from './wire.js';

/** KV keys allow [-/_=.a-zA-Z0-9]; worker ids are host-pid-random, mapped onto that. */
export function workerKey(id: string): string {
  return id.replace(/[^-/_=.a-zA-Z0-9]/g, '_');
}

export async function putWorker(kv: KV, entry: WorkerEntry): Promise<void> {
  await kv.put(workerKey(entry.id), encodeWorkerEntry(entry));
}

export async function removeWorker(kv: KV, id: string): Promise<void> {
  await kv.delete(workerKey(id));
}

/** The longest a listing of the registry's keys is followed. */
const KEY_LISTING_MS = 3000;

/** Every live worker, oldest first. Entries this build cannot read are skipped. */
export async function listWorkers(
  kv: KV,
  now = Date.now(),
  ttlMs?: number,
): Promise<WorkerEntry[]> {
  const out: WorkerEntry[] = [];
  // A key rewritten while it is being listed (a heartbeat) can come twice: keep each once. The
  // listing follows such rewrites, so with workers beating it may not end by itself: every key
  // that exists comes first, so it is stopped after a bounded wait.
  const keys = new Set<string>();
  const listing = await kv.keys();
  const timer = setTimeout(() => listing.stop(), KEY_LISTING_MS);
  try {
    for await (const k of listing) keys.add(k);
  } finally {
    clearTimeout(timer);
  }
  for (const k of keys) {
    const e = await kv.get(k);
    if (!e || e.operation !== 'PUT') continue;
    try {
      const w = decodeWorkerEntry(e.value);
      // The TTL removes expired entries lazily; never list one older than it.
      if (ttlMs === undefined || now - w.heartbeatAt <= ttlMs) out.push(w);
    } catch {
      // another build's entry
    }
  }
  return out.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
}
