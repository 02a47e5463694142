import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  apiError,
  artifactSamples,
  dashboardDir,
  DEFAULT_PORT,
  serveStore,
  untilInterrupted,
} from '@fidlab/api';
import { ErrorCode, FidlabError, openArtifactStore, uriScheme } from '@fidlab/base';
import { numberOption, parse, UsageError, type Command } from '../command.js';

/**
 * Why a request got no answer: the first errno-like code along the error's cause chain
 * (ECONNREFUSED under "fetch failed"), else the innermost message ("bad port").
 */
function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  let innermost: string | undefined;
  for (let depth = 0; depth < 6 && e && typeof e === 'object'; depth++) {
    const o = e as { code?: unknown; cause?: unknown; errors?: unknown[]; message?: unknown };
    if (typeof o.code === 'string' && /^E[A-Z]+$/.test(o.code)) return o.code;
    if (typeof o.message === 'string' && o.message) innermost = o.message;
    e = o.cause ?? o.errors?.[0];
  }
  return innermost;
}

/** Client-side: a server's error becomes a FidlabError (one line, exit 1) with its code. */
export async function serverErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const api = apiError(err);
    if (api) {
      const known = api.fidlabCode !== null && api.fidlabCode in ErrorCode;
      const code = known
        ? (api.fidlabCode as ErrorCode)
        : api.code === 'NOT_FOUND'
          ? ErrorCode.NOT_FOUND
          : ErrorCode.INVALID_INPUT;
      if (api.code === null) {
        // No answer at all: the server is not there (refused, unknown host, timed out).
        const why = causeCode(err) ?? api.message;
        throw new FidlabError(ErrorCode.INVALID_INPUT, `server: cannot reach it (${why})`, {
          cause: err,
        });
      }
      throw new FidlabError(code, `server: ${api.code ?? 'error'}: ${api.message}`, { cause: err });
    }
    throw err;
  }
}

export const serveCommand: Command = {
  name: 'serve',
  summary:
    'serve the experiment store over HTTP (tRPC at /trpc, progress over SSE, dashboard at /)',
  usage: `usage: fidlab serve [--db URL] [--port 4400] [--host 127.0.0.1] [--public-read]
                    [--artifacts DIR]

  --db URL         PostgreSQL URL (default DATABASE_URL, else embedded .fidlab/db)
  --port N         TCP port (default ${DEFAULT_PORT}; 0 picks a free one)
  --host H         interface to listen on (default 127.0.0.1)
  --public-read    allow queries without a token (changes always need one: fidlab token create)
  --artifacts DIR  the workers' shared-folder artifact store (env FIDLAB_ARTIFACTS): the dashboard
                   shows the sample images kept there, verified (a nats-obj:// store needs
                   fidlab-coordinator --nats ... --artifacts URI)

Runs until interrupted (Ctrl-C).`,
  async run(argv, io) {
    const { values } = parse(argv, {
      options: {
        db: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        'public-read': { type: 'boolean', default: false },
        artifacts: { type: 'string' },
      },
    });
    const port = numberOption(values.port, 'port', DEFAULT_PORT, { integer: true, min: 0 });
    if (port > 65535)
      throw new FidlabError(ErrorCode.INVALID_INPUT, `--port must be <= 65535, got ${port}`);
    const artifacts = values.artifacts ?? (process.env.FIDLAB_ARTIFACTS || undefined);
    if (artifacts && (uriScheme(artifacts) ?? 'file') !== 'file')
      throw new UsageError(
        `--artifacts ${artifacts}: fidlab serve reads a folder store; serve an object store with fidlab-coordinator --nats URL --artifacts ${artifacts}`,
      );
    // Verified copies of the samples folders read, for this process only.
    const cache = artifacts ? mkdtempSync(join(tmpdir(), 'fidlab-serve-samples-')) : null;
    const samples = cache ? artifactSamples(await openArtifactStore(artifacts!), cache) : undefined;
    const { store, server, close } = await serveStore({
      samples,
      db: values.db,
      port,
      host: values.host as string,
      publicRead: values['public-read'] as boolean,
      dashboardDir: dashboardDir(),
      log: (l) => io.err(l),
    });
    io.out(
      `fidlab serve: ${server.url}/trpc (db: ${store.kind} ${store.location}${values['public-read'] ? ', public reads' : ''})`,
    );
    const dash = dashboardDir();
    io.out(
      dash
        ? `dashboard: ${server.url}/`
        : 'dashboard: not built (npm run build builds apps/dashboard)',
    );
    await untilInterrupted();
    await close();
    if (cache) rmSync(cache, { recursive: true, force: true });
    io.err('fidlab serve: stopped');
    return 0;
  },
};
