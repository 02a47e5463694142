import { createApiClient } from '@fidlab/api';
import { openStore } from '@fidlab/store';
import { parse, UsageError, type Command } from '../command.js';
import { serverErrors } from './serve.js';

export const tokenCommand: Command = {
  name: 'token',
  summary: 'API tokens for fidlab serve: create (printed once), list, revoke',
  usage: `usage: fidlab token create NAME [--db URL | --server URL --token T]
       fidlab token list [--db URL | --server URL --token T]
       fidlab token revoke NAME [--db URL | --server URL --token T]

create prints a new bearer token once; the store keeps only its sha256. Clients send it as
"Authorization: Bearer TOKEN" (fidlab best|runs|export --token or FIDLAB_TOKEN).

  --db URL       PostgreSQL URL (default DATABASE_URL, else embedded .fidlab/db)
  --server URL   manage the tokens of a running fidlab serve (which holds the embedded store)
                 instead; needs a valid --token (default FIDLAB_TOKEN). A revocation there is
                 immediate; one made with --db on a PostgreSQL store another server uses takes
                 effect there within 1 s (its token cache).
  --token T      bearer token for --server (default FIDLAB_TOKEN)

The first token of an embedded store is created before fidlab serve starts (or after it stops).`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { db: { type: 'string' }, server: { type: 'string' }, token: { type: 'string' } },
    });
    const [action, name, ...extra] = positionals;
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    if (action !== 'create' && action !== 'list' && action !== 'revoke') {
      throw new UsageError(`expected create, list or revoke, got '${action ?? ''}'`);
    }
    if (action !== 'list' && !name) throw new UsageError(`token ${action} needs a NAME`);
    if (values.server !== undefined) {
      if (values.db !== undefined) throw new UsageError('give --db or --server, not both');
      const token = values.token ?? process.env.FIDLAB_TOKEN;
      if (!token) throw new UsageError('--server needs --token T (or FIDLAB_TOKEN)');
      const client = createApiClient({ url: values.server, token });
      return serverErrors(async () => {
        if (action === 'create') {
          io.out((await client.tokens.create.mutate({ name })).token);
          io.err(
            `fidlab token: created '${name}'; it is shown only now (the store keeps its hash)`,
          );
        } else if (action === 'revoke') {
          await client.tokens.revoke.mutate({ name });
          io.err(`fidlab token: revoked '${name}'`);
        } else {
          for (const t of await client.tokens.list.query())
            io.out(`${t.name}\t${t.createdAt}${t.revoked ? '\trevoked' : ''}`);
        }
        return 0;
      });
    }
    const store = await openStore(values.db !== undefined ? { url: values.db } : {});
    try {
      if (action === 'create') {
        io.out(await store.createToken(name));
        io.err(`fidlab token: created '${name}'; it is shown only now (the store keeps its hash)`);
      } else if (action === 'revoke') {
        if (!(await store.revokeToken(name))) {
          io.err(`fidlab token: no active token named '${name}'`);
          return 1;
        }
        io.err(`fidlab token: revoked '${name}'`);
      } else {
        for (const t of await store.listTokens()) {
          io.out(`${t.name}\t${t.createdAt}${t.revoked ? '\trevoked' : ''}`);
        }
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};
