// A typed client for the fidlab API (used by the CLI's --server mode and by tests).
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
} from '@trpc/client';
import type { AppRouter } from './router.js';
import { TRPC_PATH } from './server.js';

export interface ApiClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:4400 (with or without the /trpc suffix). */
  url: string;
  token?: string | null;
  /**
   * Batch concurrent calls into one request (httpBatchLink). Off by default: the batch link
   * waits a timer tick before sending, which costs a sequential caller (CLI) a millisecond or more.
   */
  batch?: boolean;
  /** An EventSource class for subscriptions (Node 20 has none built in; e.g. the eventsource package). */
  EventSource?: new (url: string, init?: never) => unknown;
}

export type ApiClient = TRPCClient<AppRouter>;

export function trpcUrl(url: string): string {
  const base = url.replace(/\/+$/, '');
  return base.endsWith(TRPC_PATH) ? base : base + TRPC_PATH;
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const url = trpcUrl(opts.url);
  const headers = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const batch = opts.batch
    ? httpBatchLink<AppRouter>({ url, headers: () => headers })
    : httpLink<AppRouter>({ url, headers: () => headers });
  if (!opts.EventSource) return createTRPCClient<AppRouter>({ links: [batch] });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          EventSource: opts.EventSource as any,
          connectionParams: opts.token ? { token: opts.token } : undefined,
        }),
        false: batch,
      }),
    ],
  });
}

/** The code and FidlabError code of an error a server answered with, or null for other errors. */
export function apiError(
  err: unknown,
): { code: string | null; fidlabCode: string | null; message: string } | null {
  if (!(err instanceof TRPCClientError)) return null;
  const data = (err.data ?? {}) as { code?: string; fidlabCode?: string | null };
  return { code: data.code ?? null, fidlabCode: data.fidlabCode ?? null, message: err.message };
}
