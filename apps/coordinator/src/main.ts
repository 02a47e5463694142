/**
 * The coordinator: `fidlab-coordinator [--db URL] [--port 4400] [--host 127.0.0.1] [--public-read]`
 * serves the experiment store's tRPC API (libs/api) and the dashboard at / until SIGINT/SIGTERM; `fidlab serve` runs the
 * same code. Sweeps run in-process with `fidlab run` today; the coordinator is where dispatching
 * trials to workers over NATS will live. This file only wires libs together.
 */
import { parseArgs } from 'node:util';
import {
  dashboardDir,
  DEFAULT_PORT,
  serveStore,
  untilInterrupted,
  type ServedStore,
} from '@fidlab/api';
import { isFidlabError } from '@fidlab/base';

export interface CoordinatorIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: CoordinatorIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

const USAGE =
  'usage: fidlab-coordinator [--db URL] [--port 4400] [--host 127.0.0.1] [--public-read]';

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
    },
  });
  const dashboard = dashboardDir();
  const served = await serveStore({
    db: values.db,
    port: Number(values.port),
    host: values.host,
    publicRead: values['public-read'],
    dashboardDir: dashboard,
    log: io.err,
  });
  io.out(
    JSON.stringify({
      type: 'listening',
      url: `${served.server.url}/trpc`,
      db: served.store.kind,
      publicRead: values['public-read'],
      dashboard: dashboard ? served.server.url + '/' : null,
    }),
  );
  return served;
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
