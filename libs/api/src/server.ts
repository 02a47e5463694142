// `fidlab serve`: the tRPC router on node:http at /trpc (SSE subscriptions included), GET /healthz,
// run files (sample images) at /files/runs/<id>/..., and the dashboard at / (when built).
// Tokens are checked per request against the store's hashes, cached briefly.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { hashToken, type Store, type WorkerRow } from '@fidlab/store';
import { serveDashboard } from './dashboard.js';
import { contentType, runFilePath, RUN_FILES_PATH, type SampleSource } from './files.js';
import { appRouter } from './router.js';
import type { Context } from './trpc.js';

export interface ApiServerOptions {
  store: Store;
  port?: number;
  host?: string;
  publicRead?: boolean;
  /** Progress subscriptions re-read the store at least this often (ms, default 1000). */
  pollMs?: number;
  /**
   * How long a verified token is trusted before re-checking the store (ms, default 1000). A
   * revocation through this server (tokens.revoke) is immediate; one made by another process on
   * the same PostgreSQL database takes effect within this bound.
   */
  tokenCacheMs?: number;
  /** The live workers (Context.workers). */
  workers?: () => Promise<WorkerRow[]>;
  /**
   * The largest request body accepted (bytes, default 16 MiB: sweeps.create's largest legal
   * input, 100,000 runs of about 100 bytes, fits); larger ones get 413 unread.
   */
  maxBodyBytes?: number;
  /** Where sample images kept in an artifact store are read (Context.samples). */
  samples?: SampleSource;
  /** The built dashboard (apps/dashboard/dist) served at /; none: / is a 404. */
  dashboardDir?: string | null;
}

export interface ApiServer {
  server: Server;
  /** e.g. http://127.0.0.1:4400 (the tRPC endpoint is url + '/trpc'). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 4400;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const TRPC_PATH = '/trpc';

function bearer(
  req: IncomingMessage,
  connectionParams: Record<string, string | undefined> | null,
): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(h.trim());
    if (m) return m[1];
  }
  // EventSource in browsers cannot set headers: tRPC sends connectionParams in the URL instead.
  return connectionParams?.token ?? null;
}

/** Whether the declared body is over the limit (decided from the header, before reading). */
function tooLarge(req: IncomingMessage, max: number): boolean {
  const len = Number(req.headers['content-length'] ?? 0);
  return Number.isFinite(len) && len > max;
}

/** 413 with a tRPC-shaped JSON error; the connection is closed so the body is never read. */
function refuseBody(res: ServerResponse, max: number): void {
  const message = `request body too large (limit ${max} bytes)`;
  res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
  res.end(
    JSON.stringify({
      error: { message, code: -32600, data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 } },
    }),
  );
}

export async function createApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { store } = opts;
  const publicRead = opts.publicRead ?? false;
  const pollMs = opts.pollMs ?? 1000;
  const cacheMs = opts.tokenCacheMs ?? 1000;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const tokenCache = new Map<string, { name: string | null; until: number }>();

  async function tokenName(token: string | null): Promise<string | null> {
    if (token === null) return null;
    const key = hashToken(token);
    const hit = tokenCache.get(key);
    const now = Date.now();
    if (hit && hit.until > now) return hit.name;
    const name = await store.verifyToken(token);
    if (tokenCache.size > 1000) tokenCache.clear();
    tokenCache.set(key, { name, until: now + cacheMs });
    return name;
  }

  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: TRPC_PATH + '/',
    // Bodies sent without a Content-Length (chunked) are cut off at the same limit while read.
    maxBodySize: maxBody,
    createContext: async ({ req, info }): Promise<Context> => {
      const token = bearer(req, info.connectionParams);
      return {
        store,
        tokenName: await tokenName(token),
        tokenPresented: token !== null,
        forgetTokens: () => tokenCache.clear(),
        publicRead,
        pollMs,
        workers: opts.workers,
        samples: opts.samples,
      };
    },
  });

  const notFound = (res: ServerResponse, why = 'not found (the API is at /trpc)') => {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(why + '\n');
  };

  /** GET /files/runs/<id>/<path>: a file under the run's directory, for readers. */
  async function runFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (!publicRead && (await tokenName(bearer(req, null))) === null) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('a bearer token is required (fidlab token create NAME)\n');
      return;
    }
    const m = /^(\d+)\/(.+)$/.exec(path.slice(RUN_FILES_PATH.length));
    let rel: string | null = null;
    try {
      rel = m ? decodeURIComponent(m[2]) : null;
    } catch {
      rel = null;
    }
    const file =
      m && rel !== null ? await runFilePath(store, Number(m[1]), rel, opts.samples) : null;
    if (!file) return notFound(res, 'no such file under the run directory');
    res.writeHead(200, { 'content-type': contentType(file), 'cache-control': 'no-cache' });
    res.end(await readFile(file));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === TRPC_PATH || path.startsWith(TRPC_PATH + '/')) {
      if (tooLarge(req, maxBody)) return refuseBody(res, maxBody);
      return trpc(req, res);
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, db: store.kind }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return notFound(res);
    if (path.startsWith(RUN_FILES_PATH)) return runFile(req, res, path);
    if (opts.dashboardDir && (await serveDashboard(opts.dashboardDir, path, res))) return;
    notFound(res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`internal error: ${(err as Error).message}\n`);
    });
  });

  const host = opts.host ?? '127.0.0.1';
  server.listen(opts.port ?? DEFAULT_PORT, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
