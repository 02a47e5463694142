// The typed tRPC client (AppRouter from @fidlab/api, a type-only import: nothing of the server is
// bundled), the bearer token kept in localStorage, and fetching run files with it.
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
} from '@trpc/client';
import type { AppRouter } from '@fidlab/api';
import type { inferRouterOutputs } from '@trpc/server';

export type Outputs = inferRouterOutputs<AppRouter>;
export type SweepListRow = Outputs['sweeps']['list'][number];
export type SweepDetail = Outputs['sweeps']['get'];
export type RunListRow = SweepDetail['runs'][number];
export type EpochRow = Outputs['runs']['epochs'][number];
export type BestRow = NonNullable<Outputs['runs']['best']>;
export type Progress = Outputs['progress'] extends AsyncIterable<infer T> ? T : never;
export type Correlation = Outputs['metrics']['correlate'];
export type WorkerRow = Outputs['workers']['list'][number];
export type Annotations = Outputs['notes']['get'];

const TOKEN_KEY = 'fidlab.token';

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function makeClient(token: string | null): TRPCClient<AppRouter> {
  const url = new URL('/trpc', location.origin).toString();
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        // EventSource cannot send headers: tRPC puts connectionParams in the URL.
        true: httpSubscriptionLink({
          url,
          connectionParams: () => (token ? { token } : {}),
        }),
        false: httpBatchLink({
          url,
          headers: () => (token ? { authorization: `Bearer ${token}` } : {}),
        }),
      }),
    ],
  });
}

export let api = makeClient(getToken());

const listeners = new Set<() => void>();
export function onTokenChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // private mode: the token lives for this page only
  }
  api = makeClient(token);
  for (const fn of listeners) fn();
}

/** True when the server refused for want of a (valid) token. */
export function isUnauthorized(err: unknown): boolean {
  return err instanceof TRPCClientError && err.data?.code === 'UNAUTHORIZED';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A run file (GET /files/runs/<id>/<path>) as an object URL, fetched with the token. */
export async function runFileUrl(runId: number, path: string): Promise<string> {
  const token = getToken();
  const res = await fetch(
    `/files/runs/${runId}/${path.split('/').map(encodeURIComponent).join('/')}`,
    {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    },
  );
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return URL.createObjectURL(await res.blob());
}
