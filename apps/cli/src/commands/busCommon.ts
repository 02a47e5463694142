// What the commands that talk to NATS share: the connection flags (parsed here without loading
// the NATS client; @fidlab/bus is imported only when a command runs), connecting, and the store
// every worker and submitter shares.
import type { Recorder } from '@fidlab/experiments';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { UsageError } from '../command.js';

export const BUS_FLAG_OPTIONS = {
  nats: { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-pass': { type: 'string' },
  'nats-token': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-config': { type: 'string' },
  'nats-ca': { type: 'string' },
  'nats-cert': { type: 'string' },
  'nats-key': { type: 'string' },
} as const;

export const BUS_FLAGS = `  --nats URL[,URL] NATS server(s) (env FIDLAB_NATS_URL): nats://host:4222 or tls://host:4222
  --nats-user U --nats-pass P | --nats-token T | --nats-creds FILE.creds
                   credentials (env FIDLAB_NATS_USER, _PASS, _TOKEN, _CREDS); never logged
  --nats-ca F --nats-cert F --nats-key F
                   TLS files (env FIDLAB_NATS_CA, _CERT, _KEY)
  --nats-config F  JSON file with servers, user, pass, token, creds, tls {ca, cert, key}
                   (env FIDLAB_NATS_CONFIG); flags win over env, env over the file`;

type Flags = { [K in keyof typeof BUS_FLAG_OPTIONS]?: string };

/** True when a NATS server is named by a flag, the environment or a config file. */
export async function wantsBus(values: Flags): Promise<boolean> {
  const { resolveBusOptions } = await import('@fidlab/bus');
  return resolveBusOptions(values) !== null;
}

/** Connects and makes sure the streams, consumers and registry exist. */
export async function connectFromFlags(values: Flags, name: string) {
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
