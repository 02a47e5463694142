// What the commands that talk to NATS share: the connection flags (from @fidlab/bus/flags, which
// does not load the NATS client; @fidlab/bus is imported only when a command runs), connecting,
// and the store every worker and submitter shares.
import type { Recorder } from '@fidlab/experiments';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { BusFlags } from '@fidlab/bus/flags';
import { UsageError } from '../command.js';

// The commands spread BUS_FLAG_OPTIONS into their options and print BUS_FLAGS in their usage.
export { BUS_FLAG_OPTIONS, BUS_FLAGS_USAGE as BUS_FLAGS } from '@fidlab/bus/flags';

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
