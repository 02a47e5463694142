// The NATS connection flags every process that connects takes (the CLI's bus commands, the
// coordinator): the parseArgs table and its usage lines. This module imports nothing, so a
// command parses its flags and prints --help without loading the NATS client; apps import it
// through `@fidlab/bus/flags` and load `@fidlab/bus` only when they connect.

/** parseArgs option table for every command that connects (spread it into `options`). */
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

/** The values of those flags, as parseArgs returns them (`resolveBusOptions` takes them). */
export type BusFlags = { [K in keyof typeof BUS_FLAG_OPTIONS]?: string };

/** Usage lines for the flags above. */
export const BUS_FLAGS_USAGE = `  --nats URL[,URL] NATS server(s) (env FIDLAB_NATS_URL): nats://host:4222 or tls://host:4222
  --nats-user U --nats-pass P | --nats-token T | --nats-creds FILE.creds
                   credentials (env FIDLAB_NATS_USER, _PASS, _TOKEN, _CREDS); never logged
  --nats-ca F --nats-cert F --nats-key F
                   TLS files (env FIDLAB_NATS_CA, _CERT, _KEY)
  --nats-config F  JSON file with servers, user, pass, token, creds, tls {ca, cert, key}
                   (env FIDLAB_NATS_CONFIG); flags win over env, env over the file`;
