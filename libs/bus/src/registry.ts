// The worker registry: one KV entry per worker, rewritten on every heartbeat. The bucket's TTL
// (BusSettings.workerTtlMs) removes the entry of a worker that stopped beating, so a vanished
// worker disappears from `fidlab workers` within that time; a worker that exits cleanly deletes
// its own entry at once.
import type { KV } from '@nats-io/kv';
import { streamSubjects, type Topology } from './topology.js';
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

/**
 * Every live worker, oldest first. Entries this build cannot read are skipped.
 *
 * The keys come from one stream-info request (the subjects present in the bucket's stream), not
 * from `kv.keys()`: that listing follows the heartbeats' rewrites while it runs, so with workers
 * beating it may list a key twice and need not end by itself.
 */
export async function listWorkers(
  registry: Pick<Topology, 'jsm' | 'workers' | 'names'>,
  now = Date.now(),
  ttlMs?: number,
): Promise<WorkerEntry[]> {
  const { jsm, workers: kv, names } = registry;
  const out: WorkerEntry[] = [];
  // KV buckets are the stream KV_<bucket> with one subject $KV.<bucket>.<key> per key (ADR-8).
  const subjectPrefix = `$KV.${names.workersBucket}.`;
  const keys = (await streamSubjects(jsm, `KV_${names.workersBucket}`, `${subjectPrefix}>`))
    .filter((s) => s.startsWith(subjectPrefix))
    .map((s) => s.slice(subjectPrefix.length));
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
