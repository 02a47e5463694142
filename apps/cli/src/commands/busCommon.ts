// What the commands that talk to NATS share: the connection flags (from @fidlab/bus/flags, which
// does not load the NATS client; @fidlab/bus is imported only when a command runs), connecting,
// and the store every worker and submitter shares.
import type { Recorder } from '@fidlab/experiments';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { BusFlags } from '@fidlab/bus/flags';
import { UsageError } from '../command.js';

// The commands spread BUS_FLAG_OPTIONS into their options and print BUS_FLAGS in their usage.
import { BUS_FLAG_OPTIONS } from '@fidlab/bus/flags';
export { BUS_FLAG_OPTIONS };
export { BUS_FLAGS_USAGE as BUS_FLAGS } from '@fidlab/bus/flags';

/**
 * The flags of `fidlab worker` that `fidlab workers start` takes too and passes on to every
 * worker it starts (so the two cannot disagree on them).
 */
export const WORKER_FLAG_OPTIONS = {
  ...BUS_FLAG_OPTIONS,
  db: { type: 'string' },
  'runs-dir': { type: 'string' },
  artifacts: { type: 'string' },
  backend: { type: 'string' },
  fake: { type: 'boolean', default: false },
} as const;

/** The WORKER_FLAG_OPTIONS given, as the arguments of a `fidlab worker` command line. */
export function workerFlagArgs(values: Record<string, unknown>): string[] {
  const args: string[] = [];
  for (const [k, o] of Object.entries(WORKER_FLAG_OPTIONS)) {
    const v = values[k];
    if (o.type === 'string' && typeof v === 'string') args.push(`--${k}`, v);
    else if (o.type === 'boolean' && v === true) args.push(`--${k}`);
  }
  return args;
}

/** True when a NATS server is named by a flag, the environment or a config file. */
export async function wantsBus(values: BusFlags): Promise<boolean> {
  const { resolveBusOptions } = await import('@fidlab/bus');
  return resolveBusOptions(values) !== null;
}

/** Connects and makes sure the streams, consumers and registry exist. */
export async function connectFromFlags(values: BusFlags, name: string) {
  const bus = await import('@fidlab/bus');
  const opts = bus.resolveBusOptions(values);
  if (!opts) throw new UsageError('--nats URL is required (or FIDLAB_NATS_URL)');
  const settings = bus.busSettingsFromEnv();
  const nc = await bus.connectBus({ ...opts, name });
  const topology = await bus.ensureTopology(nc, settings);
  return { nc, topology, settings, description: bus.describeConnection(opts) };
}

/** The shared PostgreSQL store (the embedded one cannot be shared between processes). */
export async function openRecorderStore(db: string | undefined) {
  const url = db ?? process.env.DATABASE_URL;
  if (!url || !/^postgres(ql)?:\/\//.test(url))
    throw new UsageError(
      '--db postgresql://... is required (or DATABASE_URL): workers and submitters share one PostgreSQL store',
    );
  const { openStore, maskUrl } = await import('@fidlab/store');
  let store;
  try {
    store = await openStore({ url });
  } catch (e) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `cannot open the store at ${maskUrl(url)}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  return {
    store,
    recorder: store as Recorder,
    close: () => store.close(),
  };
}
