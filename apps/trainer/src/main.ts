/**
 * The training worker: `fidlab-trainer TRIAL.json [--backend B] [--db URL]` (or `-` for stdin).
 * Picks the tfjs backend, runs one trial with @fidlab/training and prints one JSON line per epoch
 * on stdout ({"type":"epoch",...}), then {"type":"done",...} or {"type":"error","code","message"}.
 * A sweep's trial job ({"kind":"trial",...}, what `fidlab run` and the bus dispatch) runs through
 * the sweep engine's job handler instead, recorded in the store (--db, else DATABASE_URL) under a
 * claim of this process: one JSON line per event (checkpoint, metrics, trial-finished). Logs go
 * to stderr. SIGINT/SIGTERM stop after the current step (exit 130); the run resumes. Everything
 * else lives in the libs: this file only wires them together.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ErrorCode, FidlabError, isFidlabError } from '@fidlab/base';
import { parseJob, runTrialJob, type TrialJob } from '@fidlab/experiments';
import { selectBackend } from '@fidlab/models';
import { openStore } from '@fidlab/store';
import { parseTrialConfig, train } from '@fidlab/training';

export interface TrainerIo {
  out(line: string): void;
  err(line: string): void;
  /** Registers a stop request handler (signals); returns an unregister function. */
  onStop?(handler: () => void): () => void;
}

const processIo: TrainerIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  onStop(handler) {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

const USAGE = 'usage: fidlab-trainer TRIAL.json|- [--backend auto|gpu|node|wasm|cpu] [--db URL]';

export async function runTrainer(argv: string[], io: TrainerIo = processIo): Promise<number> {
  const args = [...argv];
  let backend: string | undefined;
  let db: string | undefined;
  const b = args.indexOf('--backend');
  if (b >= 0) [, backend] = args.splice(b, 2);
  const d = args.indexOf('--db');
  if (d >= 0) [, db] = args.splice(d, 2);
  if (args.length !== 1 || args[0] === '--help' || (b >= 0 && !backend) || (d >= 0 && !db)) {
    io.err(USAGE);
    return args[0] === '--help' ? 0 : 2;
  }
  const ac = new AbortController();
  const off = io.onStop?.(() => ac.abort());
  try {
    const text = readFileSync(args[0] === '-' ? 0 : args[0], 'utf8');
    const input = JSON.parse(text) as unknown;
    if (input !== null && typeof input === 'object' && 'kind' in input) {
      const job = parseJob(input, args[0] === '-' ? 'stdin' : args[0]);
      if (job.kind !== 'trial')
        throw new FidlabError(
          ErrorCode.INVALID_INPUT,
          `${args[0]}: a ${job.kind} job goes to fidlab-evaluator; fidlab-trainer runs trial jobs`,
        );
      await selectBackend({ backend, log: io.err });
      return await runJob(job, db ?? process.env.DATABASE_URL, io, ac.signal);
    }
    const config = parseTrialConfig(input);
    const name = await selectBackend({ backend, log: io.err });
    const r = await train(config, {
      signal: ac.signal,
      log: io.err,
      onEpoch: (e) => {
        const { config: _config, ...rest } = e;
        io.out(JSON.stringify({ type: 'epoch', backend: name, ...rest }));
      },
    });
    io.out(JSON.stringify({ type: 'done', ...r }));
    return r.status === 'aborted' ? 130 : 0;
  } catch (e) {
    const code = isFidlabError(e)
      ? e.code
      : e instanceof SyntaxError
        ? 'INVALID_INPUT'
        : 'INTERNAL';
    io.out(JSON.stringify({ type: 'error', code, message: (e as Error).message }));
    io.err(`fidlab-trainer: error: ${(e as Error).message}`);
    return isFidlabError(e) || e instanceof SyntaxError ? 1 : 70;
  } finally {
    off?.();
  }
}

/** A sweep's trial job through the engine's handler, under a claim of this process. */
async function runJob(
  job: TrialJob,
  url: string | undefined,
  io: TrainerIo,
  signal: AbortSignal,
): Promise<number> {
  const store = await openStore({ url });
  const workerId = `trainer-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const beat = setInterval(() => void store.heartbeat(workerId).catch(() => {}), 5000);
  beat.unref();
  try {
    await store.registerWorker({ id: workerId, hostname: hostname(), pid: process.pid });
    const claim = await store.claimRun(job.runId, workerId);
    if (!claim) {
      const holder = (await store.getRun(job.runId))?.claimedBy;
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `run ${job.runId} (${job.runKey}) is claimed by worker ${holder}, which is alive`,
      );
    }
    try {
      const finished = await runTrialJob(job, {
        recorder: store,
        claim,
        emit: async (event) => io.out(JSON.stringify(event)),
        heartbeat: () => {},
        log: io.err,
        signal,
      });
      return finished.status === 'done' ? 0 : finished.status === 'cancelled' ? 130 : 1;
    } finally {
      await store.releaseClaim(claim);
    }
  } finally {
    clearInterval(beat);
    await store.close();
  }
}
