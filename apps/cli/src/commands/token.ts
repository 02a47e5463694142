import { openStore } from '@fidlab/store';
import { parse, UsageError, type Command } from '../command.js';

export const tokenCommand: Command = {
  name: 'token',
  summary: 'API tokens for fidlab serve: create (printed once), list, revoke',
  usage: `usage: fidlab token create NAME [--db URL]
       fidlab token list [--db URL]
       fidlab token revoke NAME [--db URL]

create prints a new bearer token once; the store keeps only its sha256. Clients send it as
"Authorization: Bearer TOKEN" (fidlab best|runs|export --token or FIDLAB_TOKEN).

  --db URL   PostgreSQL URL (default DATABASE_URL, else embedded .fidlab/db)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { db: { type: 'string' } },
    });
    const [action, name, ...extra] = positionals;
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    if (action !== 'create' && action !== 'list' && action !== 'revoke') {
      throw new UsageError(`expected create, list or revoke, got '${action ?? ''}'`);
    }
    if (action !== 'list' && !name) throw new UsageError(`token ${action} needs a NAME`);
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
