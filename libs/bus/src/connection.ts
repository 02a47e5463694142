// Connecting to NATS: servers, credentials and TLS from flags, the environment or a config file
// (in that order of precedence), and a URL form safe to log. No secret ever reaches a log line:
// log `describeConnection(opts)`, never the options themselves.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { BusFlags } from './flags.js';

/** Where to connect and as whom. Exactly one of user/pass, token and creds is usually set. */
export interface BusConnectionOptions {
  /** One or more server URLs (`nats://`, `tls://`), comma-separated in flags and env. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** Path of a `.creds` file (a user JWT and its nkey seed). */
  creds?: string;
  /** TLS client files; a `tls://` URL or any of these turns TLS on. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Name shown by the server's monitoring (`connz`). */
  name?: string;
}

/** The config file (`--nats-config FILE`, FIDLAB_NATS_CONFIG): JSON with the same fields. */
interface ConfigFile {
  servers?: string | string[];
  url?: string;
  user?: string;
  pass?: string;
  password?: string;
  token?: string;
  creds?: string;
  tls?: { ca?: string; cert?: string; key?: string };
}

/**
 * Resolves the connection options: flags, then FIDLAB_NATS_* environment variables, then the
 * config file. Returns null when no server is named anywhere (the caller runs without a bus).
 */
export function resolveBusOptions(
  flags: BusFlags,
  env: NodeJS.ProcessEnv = process.env,
): BusConnectionOptions | null {
  const configPath = flags['nats-config'] ?? env.FIDLAB_NATS_CONFIG;
  let file: ConfigFile = {};
  if (configPath) {
    try {
      file = JSON.parse(readFileSync(configPath, 'utf8')) as ConfigFile;
    } catch (e) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${configPath}: cannot read the NATS config file (${(e as Error).message.split('\n')[0]})`,
      );
    }
  }
  const serversText =
    flags.nats ??
    env.FIDLAB_NATS_URL ??
    (Array.isArray(file.servers) ? file.servers.join(',') : (file.servers ?? file.url));
  if (!serversText) return null;
  // Credentials written into a URL (nats://user:pass@host, nats://token@host) are taken out of
  // it: the client does not read them there, and the bare URL is what gets logged.
  let fromUrl: { user?: string; pass?: string; token?: string } = {};
  const servers = serversText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(s);
      if (!m) return s;
      const i = m[2].indexOf(':');
      const dec = (x: string) => {
        try {
          return decodeURIComponent(x);
        } catch {
          return x;
        }
      };
      fromUrl =
        i < 0
          ? { token: dec(m[2]) }
          : { user: dec(m[2].slice(0, i)), pass: dec(m[2].slice(i + 1)) };
      return m[1] + m[3];
    });
  for (const s of servers) {
    if (!/^(nats|tls|wss?):\/\/|^[^:/]+(:\d+)?$/.test(s))
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `--nats: '${redactUrl(s)}' is not a NATS URL (nats://host:port or tls://host:port)`,
      );
  }
  const pick = (flag: keyof BusFlags, envName: string, fromFile: string | undefined) =>
    flags[flag] ?? env[envName] ?? fromFile;
  const tls = {
    ca: pick('nats-ca', 'FIDLAB_NATS_CA', file.tls?.ca),
    cert: pick('nats-cert', 'FIDLAB_NATS_CERT', file.tls?.cert),
    key: pick('nats-key', 'FIDLAB_NATS_KEY', file.tls?.key),
  };
  const opts: BusConnectionOptions = {
    servers,
    user: pick('nats-user', 'FIDLAB_NATS_USER', file.user) ?? fromUrl.user,
    pass: pick('nats-pass', 'FIDLAB_NATS_PASS', file.pass ?? file.password) ?? fromUrl.pass,
    token: pick('nats-token', 'FIDLAB_NATS_TOKEN', file.token) ?? fromUrl.token,
    creds: pick('nats-creds', 'FIDLAB_NATS_CREDS', file.creds),
  };
  if (tls.ca || tls.cert || tls.key) opts.tls = tls;
  if (!!tls.cert !== !!tls.key)
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      '--nats-cert and --nats-key go together (a client certificate needs its key)',
    );
  return opts;
}

/** A URL with any password or token replaced by `***` (user names are kept). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => {
    const i = auth.indexOf(':');
    return `${scheme}${i < 0 ? '***' : auth.slice(0, i) + ':***'}@`;
  });
}

/** What to log about a connection: servers (redacted) and the kind of credentials, never them. */
export function describeConnection(o: BusConnectionOptions): string {
  const auth = o.creds
    ? `creds file ${o.creds}`
    : o.token
      ? 'token'
      : o.user
        ? `user ${o.user}`
        : 'no credentials';
  const tls = o.tls || o.servers.some((s) => s.startsWith('tls://')) ? ', TLS' : '';
  return `${o.servers.map(redactUrl).join(',')} (${auth}${tls})`;
}

/**
 * Connects, retrying forever on disconnects (a restarted broker is reconnected to; JetStream
 * keeps the queues on disk). The first connection fails fast with a one-line error.
 */
export async function connectBus(o: BusConnectionOptions): Promise<NatsConnection> {
  let authenticator;
  if (o.creds) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(o.creds);
    } catch (e) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${o.creds}: cannot read the NATS credentials file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
    authenticator = credsAuthenticator(bytes);
  }
  try {
    return await connect({
      servers: o.servers,
      name: o.name,
      user: o.user,
      pass: o.pass,
      token: o.token,
      authenticator,
      tls: o.tls ? { caFile: o.tls.ca, certFile: o.tls.cert, keyFile: o.tls.key } : undefined,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      waitOnFirstConnect: false,
      timeout: 5000,
    });
  } catch (e) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `cannot connect to NATS at ${describeConnection(o)}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
}
