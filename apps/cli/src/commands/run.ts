import {
  changedSpecError,
  describeTrial,
  EVALUATION_PROTOCOL,
  readSweepFile,
  runSweep,
  sweepSpecChanges,
  type TrialOutcome,
} from '@fidlab/experiments';
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { createApiServer, dashboardDir, DEFAULT_PORT, type ApiServer } from '@fidlab/api';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';
import { openStore, type Store, type StoreChange } from '@fidlab/store';
import { parse, UsageError, type Command, type Io } from '../command.js';
import { fmt } from '../format.js';
import { BUS_FLAG_OPTIONS, BUS_FLAGS } from './busCommon.js';
import { requireInputFile, requireOutputFolder } from '../paths.js';

/** How often `fidlab run` tells the store it is alive (its claims count as live for 60 s). */
const HEARTBEAT_MS = 5000;

export const runCommand: Command = {
  name: 'run',
  summary:
    'run a sweep file in this process: train every trial, evaluate every epoch, store it all',
  usage: `usage: fidlab run SWEEP.yaml [--db URL] [--runs-dir DIR] [--backend auto|gpu|node|wasm|cpu] [--replace-spec] [--serve [PORT]]
       fidlab run SWEEP.yaml --nats URL --db URL [--runs-dir DIR] [--detach]

Expands the sweep's trials, trains each one, evaluates the checkpoints with the sweep's metrics
and records losses, checkpoints and metric values in the store, then prints the best epoch per
trial and overall (by the sweep's select metric). Interrupt it (Ctrl-C) and run it again: finished
trials are skipped and unfinished ones resume from their last checkpoint, without duplicate rows.
Several processes of one sweep on one PostgreSQL database share its trials: each trial is claimed
before it is trained, and one claimed by another live process is waited for, not trained twice.

  --db URL         PostgreSQL URL (default: DATABASE_URL, else the embedded store in .fidlab/db)
  --runs-dir DIR   where run directories (checkpoints, metrics.jsonl) go (default .fidlab/runs)
  --backend NAME   tfjs backend (default auto: tfjs-node-gpu, tfjs-node, fidlab's wasm path, cpu)
  --replace-spec   the sweep's name is stored with a different spec: replace it (without this
                   flag a changed sweep file is refused, naming where it differs)
  --serve [PORT]   also serve the API and the dashboard from this process on 127.0.0.1 (default
                   port ${DEFAULT_PORT}; 0 picks a free one), reads without a token, so the sweep
                   can be watched live (the embedded store admits one process at a time)

The sweep's owner is FIDLAB_USER, else the login name (the first launcher keeps it).

With --nats, the trials go to the NATS work queue instead (fidlab worker processes train and
evaluate them; --db must be the PostgreSQL they share, --runs-dir a directory they all see) and
this command follows the sweep: a line per checkpoint, metric values and finished trial, then the
same best-epoch table; exit 0 when every trial is done, 1 if one failed. --detach returns after
submitting. Submitting the same sweep twice, even at once, queues each trial once.
${BUS_FLAGS}`,
  async run(argv, io) {
    const { argv: rest, servePort } = takeServe(argv);
    const { values, positionals } = parse(rest, {
      allowPositionals: true,
      options: {
        db: { type: 'string' },
        'runs-dir': { type: 'string' },
        backend: { type: 'string' },
        detach: { type: 'boolean', default: false },
        ...BUS_FLAG_OPTIONS,
        'replace-spec': { type: 'boolean', default: false },
      },
    });
    if (positionals.length !== 1)
      throw new UsageError(`expected one sweep file, got ${positionals.length}`);
    const remote = values.nats !== undefined || values['nats-config'] !== undefined;
    if (values.detach && !remote) throw new UsageError('--detach needs --nats');
    if (remote && servePort !== null)
      throw new UsageError('--serve is for in-process runs; with --nats, run fidlab-coordinator');
    requireInputFile(positionals[0], 'sweep file', 'a sweep file (YAML)');
    if (values['runs-dir'] !== undefined) requireOutputFolder(values['runs-dir'], '--runs-dir');
    const spec = await readSweepFile(positionals[0]);
    if (remote) return runOverNats(spec, positionals[0], values, io);
    await selectBackend({ backend: values.backend, log: io.err });
    const store = await openStore({ url: values.db ?? process.env.DATABASE_URL });
    const stored = await store.getSweep(spec.name).catch(async (err: unknown) => {
      await store.close();
      throw err;
    });
    const changes = stored ? sweepSpecChanges(stored.spec, spec) : [];
    if (changes.length > 0 && !values['replace-spec']) {
      await store.close();
      throw changedSpecError(spec.name, changes, 'pass --replace-spec');
    }
    const owner = process.env.FIDLAB_USER || userInfo().username;
    // The engine creates the sweep; its first write names the launcher (first launcher keeps it).
    const onChange = (c: StoreChange) => {
      if (c.kind !== 'sweep') return;
      store.events.off('change', onChange);
      store.claimSweepOwner(spec.name, owner).catch((e: unknown) => {
        io.err(`warning: could not record the sweep's owner: ${(e as Error).message}`);
      });
    };
    store.events.on('change', onChange);
    let server: ApiServer | null = null;
    if (servePort !== null) {
      try {
        server = await createApiServer({
          store,
          port: servePort,
          host: '127.0.0.1',
          publicRead: true,
          dashboardDir: dashboardDir(),
        });
      } catch (err) {
        await store.close();
        const e = err as NodeJS.ErrnoException;
        throw new FidlabError(
          ErrorCode.INVALID_INPUT,
          `--serve: cannot listen on 127.0.0.1:${servePort}: ${e.code ?? e.message}`,
        );
      }
      io.out(`dashboard: ${server.url}/sweeps/${encodeURIComponent(spec.name)}`);
    }
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      io.err('interrupted: stopping after the current step (Ctrl-C again to quit now)');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    // This process is a worker of the sweep: it claims each trial before training it, so that a
    // second `fidlab run` of the sweep on the same database trains other trials (or waits).
    const workerId = `run-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    let beat: NodeJS.Timeout | undefined;
    try {
      await store.registerWorker({
        id: workerId,
        hostname: hostname(),
        pid: process.pid,
        info: { command: 'fidlab run', sweep: spec.name },
        status: 'busy',
      });
      beat = setInterval(() => void store.heartbeat(workerId).catch(() => {}), HEARTBEAT_MS);
      beat.unref();
      const outcomes = await runSweep(spec, {
        recorder: store,
        workerId,
        runsDir: values['runs-dir'],
        log: io.err,
        signal: controller.signal,
      });
      await printBest(
        io,
        store,
        spec.name,
        spec.select.metric,
        spec.select.goal,
        outcomes,
        spec.trial === 'pix2pix',
      );
      if (controller.signal.aborted) {
        io.err(`stopped; run 'fidlab run ${positionals[0]}' again to resume`);
        return 130;
      }
      return outcomes.some((o) => o.status === 'failed') ? 1 : 0;
    } finally {
      process.off('SIGINT', onSigint);
      if (beat) clearInterval(beat);
      await store.heartbeat(workerId, 'stopped').catch(() => {});
      store.events.off('change', onChange);
      await server?.close();
      await store.close();
    }
  },
};

/** `fidlab run --nats`: submit to the queue and follow (modules loaded only on this path). */
async function runOverNats(
  spec: Awaited<ReturnType<typeof readSweepFile>>,
  file: string,
  values: Record<string, string | boolean | undefined>,
  io: Io,
): Promise<number> {
  const { connectFromFlags, openRecorderStore } = await import('./busCommon.js');
  const { runRemote } = await import('./runRemote.js');
  const { store } = await openRecorderStore(values.db as string | undefined);
  try {
    const { nc, topology, description } = await connectFromFlags(values, 'fidlab run');
    io.err(`fidlab run: NATS ${description}`);
    try {
      return await runRemote({
        spec,
        file,
        store,
        nc,
        topology,
        runsDir: values['runs-dir'] as string | undefined,
        detach: values.detach === true,
        io,
        printBest: (outcomes) =>
          printBest(
            io,
            store,
            spec.name,
            spec.select.metric,
            spec.select.goal,
            outcomes,
            spec.trial === 'pix2pix',
          ),
      });
    } finally {
      await nc.drain().catch(() => {});
    }
  } finally {
    await store.close();
  }
}

/**
 * Takes `--serve [PORT]` / `--serve=PORT` out of argv (PORT optional, so parseArgs cannot): the
 * port, DEFAULT_PORT when none is given, or null without --serve.
 */
export function takeServe(argv: string[]): { argv: string[]; servePort: number | null } {
  const out: string[] = [];
  let servePort: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let value: string | undefined;
    if (a === '--serve') {
      if (i + 1 < argv.length && /^\d+$/.test(argv[i + 1])) value = argv[++i];
    } else if (a.startsWith('--serve=')) value = a.slice('--serve='.length);
    else {
      out.push(a);
      continue;
    }
    const port = value === undefined ? DEFAULT_PORT : Number(value);
    if (!/^\d+$/.test(value ?? '0') || port > 65535)
      throw new UsageError(`--serve PORT must be 0..65535, got ${JSON.stringify(value)}`);
    servePort = port;
  }
  return { argv: out, servePort };
}

/** The best-epoch table: one line per trial, then the overall best. */
async function printBest(
  io: Io,
  store: Store,
  sweep: string,
  metric: string,
  goal: 'min' | 'max',
  outcomes: TrialOutcome[],
  evaluated: boolean,
): Promise<void> {
  const rows: string[][] = [['trial', 'run', 'status', 'parameters', 'epoch', metric]];
  for (const o of outcomes) {
    const best = await store.best({ run: o.runId, metric, goal });
    rows.push([
      String(o.trial.index + 1),
      o.trial.key,
      o.status,
      describeTrial(o.trial),
      best ? String(best.epoch) : '-',
      best ? fmt(best.value) : '-',
    ]);
  }
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  io.out(`best epoch per trial by ${metric} (${goal}):`);
  for (const r of rows)
    io.out('  ' + r.map((c, j) => (j < r.length - 1 ? c.padEnd(widths[j]) : c)).join('  '));
  const overall = await store.best({ sweep, metric, goal });
  if (overall) {
    const others = Object.entries(overall.metrics)
      .filter(([k]) => k !== metric)
      .map(([k, v]) => `${k}=${fmt(v, 4)}`)
      .join(' ');
    io.out(
      `best overall: run ${overall.run} epoch ${overall.epoch} ${metric}=${fmt(overall.value)}` +
        (others ? ` (${others})` : ''),
    );
    io.out(`checkpoint: ${overall.checkpoint ?? '(none recorded)'}`);
    // Only where an epoch could not be evaluated again (its checkpoint is gone): say so.
    const old = Object.entries(overall.protocols).filter(([, p]) => p < EVALUATION_PROTOCOL);
    if (evaluated && old.length > 0)
      io.out(
        `note: ${old.map(([k, p]) => `${k} (protocol ${p})`).join(', ')} at that epoch predate evaluation protocol ${EVALUATION_PROTOCOL} and are not comparable with current values`,
      );
  } else io.out('best overall: no metric values yet');
}
