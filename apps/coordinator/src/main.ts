/**
 * The coordinator: `fidlab-coordinator [--nats URL] [--db URL] [--port 4400] [--host 127.0.0.1]
 * [--public-read]` serves the experiment store's tRPC API (libs/api) and the dashboard at / until SIGINT/SIGTERM;
 * `fidlab serve` runs the same code. With --nats it also makes sure the queues exist, serves the
 * NATS worker registry as workers.list, closes finished sweeps and queues the trials of sweeps that
 * waited for the sweeps their `best` extractors name, and moves jobs that ran out of deliveries without a
 * worker dead-lettering them (each holder died) to the dead letters, marking their runs failed.
 * With --artifacts (the workers' artifact store) the dashboard also shows the sample images that
 * evaluators of fetched checkpoints keep there.
 * Submitting, training and evaluating need no coordinator (`fidlab run --nats`, `fidlab worker`):
 * the queue is JetStream's. This file only wires libs together.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  artifactSamples,
  dashboardDir,
  DEFAULT_PORT,
  serveStore,
  untilInterrupted,
  type SampleSource,
  type ServedStore,
} from '@fidlab/api';
import { isFidlabError } from '@fidlab/base';
import type { NatsConnection } from '@fidlab/bus';
import { BUS_FLAG_OPTIONS, BUS_FLAGS_USAGE, type BusFlags } from '@fidlab/bus/flags';
import type { Recorder } from '@fidlab/experiments';
import type { Store, WorkerRow } from '@fidlab/store';

export interface CoordinatorIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: CoordinatorIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

const USAGE =
  'usage: fidlab-coordinator [--nats URL] [--db URL] [--port 4400] [--host 127.0.0.1] [--public-read]\n' +
  '                          [--artifacts URI]\n' +
  "  --artifacts URI  the workers' artifact store (env FIDLAB_ARTIFACTS): a folder, or\n" +
  '                   nats-obj://BUCKET[/PREFIX] on --nats; the dashboard shows the sample images\n' +
  '                   kept there (fetched and verified into a cache beside the system temp dir)\n' +
  BUS_FLAGS_USAGE;

/** Parses argv and starts serving; the caller decides when to stop (tests close it). */
export async function startCoordinator(argv: string[], io: CoordinatorIo): Promise<ServedStore> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      db: { type: 'string' },
      port: { type: 'string', default: String(DEFAULT_PORT) },
      host: { type: 'string', default: '127.0.0.1' },
      'public-read': { type: 'boolean', default: false },
      artifacts: { type: 'string' },
      ...BUS_FLAG_OPTIONS,
    },
  });
  const dashboard = dashboardDir();
  const bus = values.nats || values['nats-config'] ? await startBus(values, io) : null;
  let served: ServedStore;
  try {
    const artifacts = values.artifacts ?? (process.env.FIDLAB_ARTIFACTS || undefined);
    const samples = artifacts ? await sampleSource(artifacts, bus?.nc ?? null) : undefined;
    served = await serveStore({
      samples,
      db: values.db,
      port: Number(values.port),
      host: values.host,
      publicRead: values['public-read'],
      dashboardDir: dashboard,
      log: io.err,
      workers: bus?.workers,
    });
  } catch (e) {
    await bus?.close();
    throw e;
  }
  const stopWatch = bus?.watch(served.store);
  io.out(
    JSON.stringify({
      type: 'listening',
      url: `${served.server.url}/trpc`,
      db: served.store.kind,
      publicRead: values['public-read'],
      dashboard: dashboard ? served.server.url + '/' : null,
      ...(bus ? { nats: bus.description } : {}),
    }),
  );
  return {
    ...served,
    async close() {
      stopWatch?.();
      await bus?.close();
      await served.close();
    },
  };
}

/** The artifact store's sample images, fetched into a cache of this process (removed at exit). */
async function sampleSource(uri: string, nc: NatsConnection | null): Promise<SampleSource> {
  const { openArtifactRoot } = await import('@fidlab/artifacts-nats');
  const store = await openArtifactRoot(uri, nc);
  const cache = mkdtempSync(join(tmpdir(), 'fidlab-coordinator-samples-'));
  process.once('exit', () => rmSync(cache, { recursive: true, force: true }));
  return artifactSamples(store, cache);
}

/** Connects to NATS, creates the queues, and offers the registry and the dead-letter watch. */
async function startBus(values: Record<string, string | boolean | undefined>, io: CoordinatorIo) {
  const b = await import('@fidlab/bus');
  const opts = b.resolveBusOptions(values as BusFlags)!;
  const nc = await b.connectBus({ ...opts, name: 'fidlab-coordinator' });
  const topology = await b.ensureTopology(nc, b.busSettingsFromEnv());
  const description = b.describeConnection(opts);
  io.err(`fidlab-coordinator: NATS ${description}`);
  return {
    description,
    workers: async (): Promise<WorkerRow[]> =>
      (await b.listWorkers(topology, Date.now(), topology.settings.workerTtlMs)).map((w) => ({
        id: w.id,
        hostname: w.host,
        pid: w.pid,
        info: {
          role: w.role,
          gpu: w.gpu,
          backend: w.backend,
          job: w.job,
          jobsDone: w.jobsDone,
          jobsFailed: w.jobsFailed,
        },
        status: w.job ? 'busy' : 'idle',
        startedAt: new Date(w.startedAt).toISOString(),
        lastSeenAt: new Date(w.heartbeatAt).toISOString(),
      })),
    watch: (store: Store) => {
      const log = (l: string) => io.err(`fidlab-coordinator: ${l}`);
      const stopAdvisories = b.watchMaxDeliveries(nc, topology, store as Recorder, log);
      // Every lease period: requeue trials of running sweeps whose job the broker lost.
      const dispatcher = new b.NatsDispatcher(nc, topology);
      const lost = new b.LostJobWatch(topology);
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void (async () => {
          // One query (pending/running runs of the running sweeps, few columns) and one stream
          // listing per period, whatever the number of runs and sweeps.
          const lostRuns = await lost.check(await store.listUnfinishedRuns());
          const bySweep = new Map<string, typeof lostRuns>();
          for (const r of lostRuns) bySweep.set(r.sweep, [...(bySweep.get(r.sweep) ?? []), r]);
          for (const [name, runs] of bySweep) {
            const sweep = await store.getSweep(name);
            if (!sweep) continue;
            log(
              `requeueing ${name}/${runs.map((r) => r.key).join(',')}: the broker lost their jobs`,
            );
            const { rebuildTrialJob } = await import('@fidlab/experiments');
            await b.requeueTrials(dispatcher, sweep.spec as never, runs, (r) =>
              rebuildTrialJob(sweep.spec, r, store as Recorder),
            );
          }
        })()
          .catch((e: unknown) => log(`lost-job check: ${(e as Error).message}`))
          .finally(() => (busy = false));
      }, topology.settings.ackWaitMs);
      // Close finished sweeps nobody follows (`--detach`); queue sweeps that waited for others.
      let advancing = false;
      const sweepTimer = setInterval(
        () => {
          if (advancing) return;
          advancing = true;
          void b
            .advanceSweeps({ store: store as Store & Recorder, dispatcher, topology, log })
            .catch((e: unknown) => log(`sweep check: ${(e as Error).message}`))
            .finally(() => (advancing = false));
        },
        Math.min(topology.settings.ackWaitMs, 5000),
      );
      return () => {
        clearInterval(timer);
        clearInterval(sweepTimer);
        stopAdvisories();
      };
    },
    nc,
    close: () => nc.drain().catch(() => {}),
  };
}

export async function runCoordinator(
  argv: string[],
  io: CoordinatorIo = processIo,
): Promise<number> {
  if (argv.includes('--help')) {
    io.err(USAGE);
    return 0;
  }
  let served: ServedStore;
  try {
    served = await startCoordinator(argv, io);
  } catch (e) {
    io.err(`fidlab-coordinator: error: ${(e as Error).message}`);
    if (!isFidlabError(e)) io.err(USAGE);
    return isFidlabError(e) ? 1 : 2;
  }
  await untilInterrupted();
  await served.close();
  io.err('fidlab-coordinator: stopped');
  return 0;
}
