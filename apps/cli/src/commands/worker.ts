// `fidlab worker`: a long-running worker over NATS JetStream. Everything it does lives in
// @fidlab/bus (queue, leases, retries, registry) and @fidlab/experiments (the job handlers);
// this file parses flags and wires them. Heavy modules load only when the command runs.
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@fidlab/bus';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { parse, UsageError, type Command } from '../command.js';
import {
  BUS_FLAGS,
  connectFromFlags,
  openRecorderStore,
  WORKER_FLAG_OPTIONS,
} from './busCommon.js';

const ROLES = ['trainer', 'evaluator', 'any'] as const;

/** The artifact store `--artifacts` names, as the engine's checkpoint store and feature cache. */
async function openShared(uri: string, nc: NatsConnection, runsDir: string | undefined) {
  const [{ openArtifactRoot }, experiments] = await Promise.all([
    import('@fidlab/artifacts-nats'),
    import('@fidlab/experiments'),
  ]);
  const store = await openArtifactRoot(uri, nc);
  // Beside the runs (same disk) when this machine names its runs directory.
  const cacheDir = runsDir
    ? join(resolve(runsDir), '.artifacts')
    : join(tmpdir(), `fidlab-artifacts-${process.pid}`);
  return {
    checkpoints: new experiments.ArtifactCheckpointStore(store, cacheDir),
    featureCache: new experiments.ArtifactFeatureCache(store),
  };
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'a worker: pull trial and evaluation jobs from NATS, run them, record in the store',
  usage: `usage: fidlab worker --nats URL --db URL [--runs-dir DIR] [--role trainer|evaluator|any]
                     [--artifacts URI] [--backend NAME] [--gpu N] [--id ID]

Pulls one job at a time from its NATS JetStream work queue: a trainer trains (or resumes) a trial
and queues an evaluation job for every checkpoint it records; an evaluator evaluates checkpoints;
any does both (queued evaluations first) and evaluates its own trial's checkpoints itself, at once,
as one process does. Every result goes to the store (PostgreSQL) before the job is acknowledged. While a job runs the worker renews its lease; if it dies, the job goes to another
worker, which resumes from the last checkpoint recorded in the store. SIGTERM or Ctrl-C: the
current job stops after its step and goes back to the queue, then the worker exits 0.

  --db URL         PostgreSQL URL (default DATABASE_URL); every worker must use the same one
  --runs-dir DIR   where this machine sees the shared runs directory, when its path differs from
                   the submitter's (default: the run folders the submitter named)
  --role R         trainer | evaluator | any (default any)
  --artifacts URI  share checkpoints and ground-truth features through an artifact store instead
                   of the shared runs directory (env FIDLAB_ARTIFACTS): a folder every worker
                   sees, or nats-obj://BUCKET (the NATS Object Store on --nats). A trainer uploads
                   each checkpoint and records its URI and sha256; evaluators, and trainers that
                   resume a trial on another machine, fetch it and verify the sha256; fetched
                   copies live under <runs-dir>/.artifacts while evaluated. Every worker of a
                   sweep must name the same store
  --backend NAME   tfjs backend (default auto: tfjs-node-gpu when installed and a GPU is visible,
                   then tfjs-node, fidlab's wasm path, cpu)
  --gpu N          the GPU this worker uses (sets CUDA_VISIBLE_DEVICES=N unless already set)
  --id ID          worker id in the registry (default host-pid-random)
  --fake           run simulated jobs instead of training (epochs of FIDLAB_FAKE_EPOCH_MS ms,
                   default 50, recorded like real ones): for benchmarks and fault tests
${BUS_FLAGS}

Queue settings come from FIDLAB_BUS_* (PREFIX, ACK_WAIT_MS, MAX_DELIVER, BACKOFF_MS,
WORKER_TTL_MS); every process of a deployment must agree on them.`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: {
        ...WORKER_FLAG_OPTIONS,
        role: { type: 'string', default: 'any' },
        gpu: { type: 'string' },
        id: { type: 'string' },
      },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const role = values.role as (typeof ROLES)[number];
    if (!ROLES.includes(role))
      throw new UsageError(`--role must be one of ${ROLES.join(', ')}, got '${values.role}'`);
    if (values.gpu !== undefined && !/^\d+$/.test(values.gpu))
      throw new UsageError(`--gpu must be a GPU index (0, 1, ...), got '${values.gpu}'`);
    if (values.gpu !== undefined && process.env.CUDA_VISIBLE_DEVICES === undefined)
      process.env.CUDA_VISIBLE_DEVICES = values.gpu;
    const bus = await import('@fidlab/bus');
    const id = values.id ?? bus.newWorkerId();
    const log = (line: string) => io.err(line);
    const artifacts = values.artifacts ?? (process.env.FIDLAB_ARTIFACTS || undefined);
    let backend: string | null = null;
    if (!values.fake) {
      const { selectBackend } = await import('@fidlab/models');
      backend = await selectBackend({ backend: values.backend, log });
    }
    const store = await openRecorderStore(values.db);
    const { nc, topology, description } = await connectFromFlags(values, `fidlab worker ${id}`);
    log(`fidlab worker ${id} on ${hostname()}: NATS ${description}`);
    let handlers;
    if (values.fake)
      handlers = bus.fakeHandlers({
        evaluate: true,
        epochMs: Number(process.env.FIDLAB_FAKE_EPOCH_MS ?? 50),
      });
    else {
      const shared = artifacts
        ? await openShared(artifacts, nc, values['runs-dir']).catch(async (e: unknown) => {
            await nc.close().catch(() => {});
            await store.close();
            throw e;
          })
        : {};
      if (artifacts)
        log(`fidlab worker ${id}: checkpoints and ground-truth features in ${artifacts}`);
      handlers = (await import('./jobHandlers.js')).jobHandlers(values['runs-dir'], shared);
    }
    const worker = new bus.BusWorker({
      nc,
      topology,
      recorder: store.recorder,
      handlers,
      role,
      id,
      gpu: values.gpu ?? process.env.CUDA_VISIBLE_DEVICES ?? null,
      backend,
      log,
    });
    let signals = 0;
    const onSignal = (sig: string) => {
      signals++;
      if (signals > 1) process.exit(130);
      log(`fidlab worker ${id}: ${sig}: handing back the current job, then exiting`);
      void worker.stop();
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    try {
      await worker.start();
    } catch (e) {
      throw new FidlabError(ErrorCode.INVALID_INPUT, (e as Error).message);
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      await nc.drain().catch(() => {});
      await store.close();
      (handlers as { dispose?: () => void }).dispose?.();
    }
    return 0;
  },
};
