import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { openStore, type Store, type WorkerRow } from '@fidlab/store';
import type { SampleSource } from './files.js';
import { createApiServer, type ApiServer } from './server.js';

export interface ServeStoreOptions {
  /** PostgreSQL URL (else DATABASE_URL, else the embedded store). */
  db?: string;
  port: number;
  host: string;
  publicRead: boolean;
  /** The built dashboard to serve at / (see dashboardDir()); none: / is a 404. */
  dashboardDir?: string | null;
  log?: (line: string) => void;
  /** The live workers, for workers.list (the coordinator passes its NATS registry). */
  workers?: () => Promise<WorkerRow[]>;
  /** Where sample images kept in an artifact store are read (the coordinator's --artifacts). */
  samples?: SampleSource;
}

export interface ServedStore {
  store: Store;
  server: ApiServer;
  /** Stops the server, then closes the store. */
  close(): Promise<void>;
}

/**
 * Opens the store and serves it over HTTP: what `fidlab serve` and the coordinator both run.
 * A port that cannot be bound becomes one clear error (and the store is closed again).
 */
export async function serveStore(opts: ServeStoreOptions): Promise<ServedStore> {
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
    throw new FidlabError(ErrorCode.INVALID_INPUT, `port must be 0..65535, got ${opts.port}`);
  const store = await openStore({
    ...(opts.db !== undefined ? { url: opts.db } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  let server: ApiServer;
  try {
    server = await createApiServer({
      store,
      port: opts.port,
      host: opts.host,
      publicRead: opts.publicRead,
      workers: opts.workers,
      samples: opts.samples,
      dashboardDir: opts.dashboardDir ?? null,
    });
  } catch (err) {
    await store.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `cannot listen on ${opts.host}:${opts.port}: ${e.code}`,
      );
    }
    throw err;
  }
  return {
    store,
    server,
    async close() {
      await server.close();
      await store.close();
    },
  };
}

/** Resolves when the process gets SIGINT or SIGTERM (a server's "run until interrupted"). */
export function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * Where the built dashboard is: FIDLAB_DASHBOARD_DIR, else the dist/ folder of the installed
 * @fidlab/dashboard package (resolved by name at run time: the api does not import the app), else
 * null (then / is a 404 and the rest of the API works as before).
 */
export function dashboardDir(): string | null {
  const env = process.env.FIDLAB_DASHBOARD_DIR;
  if (env) return resolve(env);
  try {
    const pkg = createRequire(import.meta.url).resolve('@fidlab/dashboard/package.json');
    const dist = join(dirname(pkg), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : null;
  } catch {
    return null;
  }
}
