// Where `fidlab best|runs|export` read from: a running server (--server URL or FIDLAB_SERVER,
// token from --token or FIDLAB_TOKEN) or, by default, the store opened directly (--db URL,
// DATABASE_URL, else the embedded database in .fidlab/db).
import { createApiClient } from '@fidlab/api';
import {
  openStore,
  type BestQuery,
  type BestResult,
  type EpochRow,
  type RunSummary,
  type SweepRow,
} from '@fidlab/store';

export interface RunsSource {
  best(q: BestQuery): Promise<BestResult | null>;
  /** The sweep's row (its spec: metric kinds, selection), or null when there is none. */
  getSweep(name: string): Promise<SweepRow | null>;
  listRuns(sweep: string): Promise<RunSummary[]>;
  runEpochs(runId: number): Promise<EpochRow[]>;
  close(): Promise<void>;
}

/** Options every store-reading command accepts. */
export const sourceOptions = {
  db: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
} as const;

export const SOURCE_USAGE = `  --db URL        PostgreSQL URL (default DATABASE_URL, else embedded .fidlab/db)
  --server URL    ask a running \`fidlab serve\` instead (default FIDLAB_SERVER)
  --token T       bearer token for --server (default FIDLAB_TOKEN)`;

export async function openRunsSource(
  values: { db?: string; server?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunsSource> {
  const server = values.server ?? env.FIDLAB_SERVER;
  if (server) {
    const client = createApiClient({
      url: server,
      token: values.token ?? env.FIDLAB_TOKEN ?? null,
    });
    return {
      best: (q) => client.runs.best.query(q),
      getSweep: async (name) => {
        try {
          return (await client.sweeps.get.query({ name })).sweep;
        } catch (e) {
          if ((e as { data?: { code?: string } }).data?.code === 'NOT_FOUND') return null;
          throw e;
        }
      },
      listRuns: (sweep) => client.runs.list.query({ sweep }),
      runEpochs: (id) => client.runs.epochs.query({ id }),
      close: async () => undefined,
    };
  }
  const store = await openStore(values.db !== undefined ? { url: values.db } : {});
  return {
    best: (q) => store.best(q),
    getSweep: (name) => store.getSweep(name),
    listRuns: (sweep) => store.listRuns({ sweep }),
    runEpochs: (id) => store.runEpochs(id),
    close: () => store.close(),
  };
}

/** Runs fn with a source, closing it afterwards; tRPC client errors become one-line messages. */
export async function withRunsSource<T>(
  values: { db?: string; server?: string; token?: string },
  fn: (src: RunsSource) => Promise<T>,
): Promise<T> {
  const src = await openRunsSource(values);
  try {
    return await fn(src);
  } finally {
    await src.close();
  }
}
