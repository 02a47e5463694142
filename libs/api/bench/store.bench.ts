// Store benchmark: seeds 1,000 runs x 100 epochs x 10 metrics = 1,000,000 metric rows (plus
// 100,000 epoch rows) into a fresh PostgreSQL database through the store's bulk idempotent
// writes, then times `runs.best` through tRPC over HTTP (client and server in this process).
// Writes bench/results/store.md at the repository root. It is the `bench` target of libs/store
// but lives here because it drives the API too (store importing api would be a cycle).
//   nx run store:bench                      (full size)
//   nx run store:bench -- --quick           (100 runs x 20 epochs x 10 metrics)
// FIDLAB_TEST_PG_URL names the server (default postgresql://postgres@127.0.0.1:5432/postgres).
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createApiClient, createApiServer } from '@fidlab/api';
import { openStore, type MetricRow } from '@fidlab/store';
import { createTestDatabase } from '@fidlab/testing';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 100 : 1000;
const EPOCHS = quick ? 20 : 100;
const METRICS = 10;
const QUERIES = quick ? 200 : 1000;
const RUNS_PER_CALL = 10; // rows per recordMetricRows call: RUNS_PER_CALL * EPOCHS * METRICS
// --quick never overwrites the committed full-size results.
const out = resolve(
  process.env.BENCH_OUT ?? (quick ? 'bench/results/store-quick.tmp' : 'bench/results/store.md'),
);

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// Deterministic, metric-dependent values with a minimum somewhere mid-training.
function value(run: number, epoch: number, m: number): number {
  const x = Math.sin(run * 12.9898 + epoch * 78.233 + m * 37.719) * 43758.5453;
  const noise = x - Math.floor(x);
  return 10 + m + ((epoch - EPOCHS / 2) / EPOCHS) ** 2 * 50 + noise * 5 + (run % 97) / 10;
}

const created = await createTestDatabase({ prefix: 'fidlab_bench' });
if (typeof created === 'string') {
  console.error(`store bench: ${created}`);
  process.exit(1);
}
const load0 = loadavg();
const store = await openStore({ url: created.url });
try {
  const sweep = await store.upsertSweep({ name: 'bench', spec: { runs: RUNS } });
  const runIds: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    runIds.push((await store.upsertRun({ sweepId: sweep.id, key: `r${r}`, parameters: { r } })).id);
  }

  // Epoch rows (checkpoints), one bulk call per RUNS_PER_CALL runs.
  let t0 = performance.now();
  for (let r = 0; r < RUNS; r += RUNS_PER_CALL) {
    const rows = runIds.slice(r, r + RUNS_PER_CALL).flatMap((runId) =>
      Array.from({ length: EPOCHS }, (_, e) => ({
        runId,
        epoch: e + 1,
        losses: { g: 1 / (e + 1), d: 0.5 },
        checkpoint: { uri: `runs/${runId}/epoch-${e + 1}`, sha256: 'a'.repeat(64), bytes: 1e6 },
        seconds: 1,
      })),
    );
    await store.recordEpochRows(rows);
  }
  const epochSecs = (performance.now() - t0) / 1000;

  t0 = performance.now();
  for (let r = 0; r < RUNS; r += RUNS_PER_CALL) {
    const rows: MetricRow[] = [];
    for (const runId of runIds.slice(r, r + RUNS_PER_CALL))
      for (let e = 1; e <= EPOCHS; e++)
        for (let m = 0; m < METRICS; m++)
          rows.push({
            runId,
            epoch: e,
            name: `metric_${m}`,
            value: value(runId, e, m),
            extractor: 'x',
          });
    await store.recordMetricRows(rows);
  }
  const metricSecs = (performance.now() - t0) / 1000;
  const metricRows = RUNS * EPOCHS * METRICS;

  // Re-recording one run's last epoch (the idempotent path `fidlab run` takes after a resume).
  t0 = performance.now();
  const rerecord = 50;
  for (let i = 0; i < rerecord; i++) {
    const runId = runIds[i % RUNS];
    await store.recordMetrics(
      runId,
      EPOCHS,
      Array.from({ length: METRICS }, (_, m) => ({
        name: `metric_${m}`,
        value: value(runId, EPOCHS, m),
      })),
    );
  }
  const rerecordMs = (performance.now() - t0) / rerecord;
  const count = await store.prisma.metricValue.count();
  if (count !== metricRows) throw new Error(`expected ${metricRows} rows, found ${count}`);

  // Fresh statistics and visibility map, as autovacuum would leave them after such a load (else
  // autovacuum runs during the first timed queries).
  t0 = performance.now();
  await store.prisma.$executeRawUnsafe('VACUUM ANALYZE');
  const analyzeSecs = (performance.now() - t0) / 1000;

  const token = await store.createToken('bench');
  const server = await createApiServer({ store, port: 0 });
  const client = createApiClient({ url: server.url, token });
  const scopes = {
    sweep: () => ({ sweep: 'bench' }),
    run: () => ({ scope: 'run' as const, run: runIds[Math.floor(Math.random() * RUNS)] }),
    all: () => ({ scope: 'all' as const }),
  };
  type Best = (q: {
    metric: string;
    goal: 'min' | 'max';
    sweep?: string;
    scope?: 'run' | 'all';
    run?: number;
  }) => Promise<{ metrics: Record<string, number> } | null>;
  const viaApi: Best = (q) => client.runs.best.query(q);
  // The same query without HTTP/tRPC, to split the latency.
  const direct: Best = ({ scope: _scope, ...q }) => store.best(q);
  const latency: { label: string; p50: number; p95: number; max: number; cpu: number }[] = [];
  for (const [how, best] of [
    ['tRPC', viaApi],
    ['store.best (no HTTP)', direct],
  ] as const) {
    // Scopes take turns query by query, so that a burst of load elsewhere hits them alike.
    const entries = Object.entries(scopes);
    const times = entries.map(() => [] as number[]);
    const cpus = entries.map(() => 0);
    for (let i = 0; i < 20 * entries.length; i++) {
      await best({ metric: 'metric_0', goal: 'min', ...entries[i % entries.length][1]() }); // warm-up
    }
    for (let i = 0; i < QUERIES * entries.length; i++) {
      const k = i % entries.length;
      const j = Math.floor(i / entries.length);
      const metric = `metric_${j % METRICS}`;
      const goal = j % 2 ? ('max' as const) : ('min' as const);
      const q = entries[k][1]();
      const cpu0 = process.cpuUsage();
      const s = performance.now();
      const r = await best({ metric, goal, ...q });
      times[k].push(performance.now() - s);
      const cpu = process.cpuUsage(cpu0);
      cpus[k] += (cpu.user + cpu.system) / 1000;
      if (!r || Object.keys(r.metrics).length !== METRICS) throw new Error('bad best result');
    }
    entries.forEach(([scope], k) => {
      const t = times[k].sort((a, b) => a - b);
      latency.push({
        label: `${how}, scope ${scope}`,
        p50: percentile(t, 50),
        p95: percentile(t, 95),
        max: t.at(-1)!,
        cpu: cpus[k] / QUERIES,
      });
    });
  }
  await server.close();

  // Listing every run (what `fidlab runs` shows): last epoch, latest and best values, and the
  // evaluation protocols of each metric, all from the run_best summary rows.
  const listMs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const s = performance.now();
    const runs = await store.listRuns();
    if (i > 0) listMs.push(performance.now() - s); // the first warms the cache
    if (runs.length !== RUNS) throw new Error(`listRuns: ${runs.length} runs, expected ${RUNS}`);
  }
  listMs.sort((a, b) => a - b);

  const load1 = loadavg();
  const ms = (x: number) => x.toFixed(2);
  const report = `# Store benchmark${quick ? ' (--quick)' : ''}

\`nx run store:bench${quick ? ' -- --quick' : ''}\` (libs/api/bench/store.bench.ts), ${new Date().toISOString()}.
PostgreSQL ${created.url.replace(/\/[^/]*$/, '/…')} (fresh database), ${cpus().length} cores (${cpus()[0]?.model ?? '?'}),
Node ${process.version}. Load average before/after: ${load0.map((x) => x.toFixed(1)).join(' ')} / ${load1.map((x) => x.toFixed(1)).join(' ')}.
**The machine is shared with other agents' builds and tests**: numbers are noisy, read them as
an order of magnitude, not a precise measurement.

Seed: ${RUNS} runs x ${EPOCHS} epochs x ${METRICS} metrics = ${metricRows.toLocaleString('en-US')} metric rows,
written through \`Store.recordMetricRows\` (INSERT ... ON CONFLICT DO UPDATE, ${RUNS_PER_CALL * EPOCHS * METRICS} rows per
call split into chunks of 3,000 rows = 30,000 bind parameters, each chunk in one transaction with
the refresh of its runs' \`run_best\` summary rows).

| write | rows | seconds | rows/s |
|---|---:|---:|---:|
| epochs (\`recordEpochRows\`) | ${(RUNS * EPOCHS).toLocaleString('en-US')} | ${epochSecs.toFixed(1)} | ${Math.round((RUNS * EPOCHS) / epochSecs).toLocaleString('en-US')} |
| metric values + run_best (\`recordMetricRows\`) | ${metricRows.toLocaleString('en-US')} | ${metricSecs.toFixed(1)} | ${Math.round(metricRows / metricSecs).toLocaleString('en-US')} |
| re-record one epoch's ${METRICS} metrics (\`recordMetrics\`, idempotent) | ${METRICS} | ${ms(rerecordMs)} ms per call | |
| then \`VACUUM ANALYZE\` (as autovacuum would) | | ${analyzeSecs.toFixed(1)} | |

\`runs.best\` through tRPC over HTTP (httpLink, bearer token; client and server in one
process), then the same through \`Store.best\` directly, ${QUERIES} sequential queries per scope, metric and goal varied, each answer carrying
every metric at the best epoch. Goal: p95 < 20 ms.

| path, scope | p50 ms | p95 ms | max ms | Node CPU ms/query |
|---|---:|---:|---:|---:|
${latency.map((l) => `| ${l.label} | ${ms(l.p50)} | ${ms(l.p95)} | ${ms(l.max)} | ${ms(l.cpu)} |`).join('\n')}

Node CPU is this process's user+system time per query (client and server together; PostgreSQL's
own time is not in it): unlike wall-clock latency it barely depends on the other agents' load.

\`Store.listRuns()\` over all ${RUNS} runs (what \`fidlab runs\` lists, protocols included), 5 calls after
a warm-up: median ${ms(listMs[2])} ms, slowest ${ms(listMs[4])} ms.
`;
  writeFileSync(out, report);
  console.log(report);
} finally {
  await store.close();
  await created.drop();
}
