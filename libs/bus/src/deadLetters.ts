// Reading the dead letters (jobs that will not be retried any more) and moving jobs that ran out
// of deliveries without a worker dead-lettering them (their workers died every time: JetStream's
// max-deliveries advisory) to the dead letters too.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Recorder } from '@fidlab/experiments';
import type { Topology } from './topology.js';
import {
  decodeDeadLetter,
  encodeDeadLetter,
  looseJobIdentity,
  WIRE_VERSION,
  type DeadLetter,
} from './wire.js';

/** Every dead letter kept, oldest first (optionally of one sweep). */
export async function readDeadLetters(
  nc: NatsConnection,
  topology: Topology,
  opts: { sweep?: string } = {},
): Promise<(DeadLetter & { seq: number })[]> {
  const { names, jsm } = topology;
  const info = await jsm.streams.info(names.deadStream);
  const out: (DeadLetter & { seq: number })[] = [];
  if (info.state.messages === 0) return out;
  const js = jetstream(nc);
  const c = await js.consumers.get(names.deadStream, {
    deliver_policy: DeliverPolicy.All,
  });
  const last = info.state.last_seq;
  const it = await c.fetch({ max_messages: Math.min(info.state.messages, 10_000), expires: 2000 });
  for await (const m of it) {
    try {
      const d = decodeDeadLetter(m.data);
      if (!opts.sweep || d.sweep === opts.sweep) out.push({ ...d, seq: m.seq });
    } catch {
      // another build's dead letter
    }
    if (m.seq >= last) break;
  }
  return out;
}

/**
 * Subscribes to JetStream's max-deliveries advisories of both job consumers: a job whose workers
 * all died (no worker could dead-letter it) is moved to the dead letters here, its run marked
 * failed, and the job removed from its work queue. Run by the coordinator.
 */
export function watchMaxDeliveries(
  nc: NatsConnection,
  topology: Topology,
  recorder: Recorder,
  log: (line: string) => void,
): () => void {
  const { names, jsm } = topology;
  const js = jetstream(nc);
  const subs = [
    [names.trialStream, names.trialConsumer],
    [names.evalStream, names.evalConsumer],
  ].map(([stream, consumer]) =>
    nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`, {
      callback: (err, msg) => {
        if (err) return;
        void (async () => {
          const a = msg.json<{ stream_seq: number; deliveries: number }>();
          let stored;
          try {
            stored = await jsm.streams.getMessage(stream, { seq: a.stream_seq });
          } catch {
            return; // acked or removed meanwhile (a worker dead-lettered it itself)
          }
          if (!stored) return;
          const id = looseJobIdentity(stored.data);
          const error = `no worker finished it in ${a.deliveries} deliveries (each lease ran out)`;
          await js.publish(
            names.deadSubject(id.kind ?? 'invalid'),
            encodeDeadLetter({
              v: WIRE_VERSION,
              at: Date.now(),
              worker: 'coordinator',
              kind: id.kind ?? 'invalid',
              sweep: id.sweep,
              runId: id.runId,
              runKey: id.runKey,
              deliveries: a.deliveries,
              error,
              payload: new TextDecoder().decode(stored.data),
            }),
            { msgID: `dead:${stream}:${a.stream_seq}` },
          );
          if (id.runId !== null)
            await recorder.setRunStatus(id.runId, 'failed', { error }).catch(() => {});
          await jsm.streams.deleteMessage(stream, a.stream_seq, false).catch(() => {});
          log(`dead letter: ${stream}#${a.stream_seq} ${id.sweep}/${id.runKey}: ${error}`);
        })().catch((e: unknown) => log(`max-deliveries advisory: ${String(e)}`));
      },
    }),
  );
  return () => subs.forEach((s) => s.unsubscribe());
}
