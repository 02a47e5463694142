// The demo sweep (examples/sweeps/demo.yaml) run twice in one go, each into a fresh PostgreSQL
// database of its own:
//   (a) in process: `fidlab run SWEEP --db A`;
//   (b) distributed: a nats-server of its own, `fidlab workers start --nats URL --db B --count 2`
//       (registered before the clock starts: workers are long-lived), then the timed
//       `fidlab run SWEEP --nats URL --db B`; same machine, so the runs directory is shared.
// Prints the wall time of each and the ratio (b)/(a); the per-epoch evaluation latency of each
// (an epoch row's created_at -> the last of its metric values' created_at, both set by the
// database); and whether (a) and (b) recorded the same losses and metric values (bit for bit).
// The compiled CLI is run (apps/cli/bin/fidlab.js: `npx nx run cli:build` first).
// Usage: node --import tsx --conditions=@fidlab/source libs/bus/bench/demo.bench.ts
//        [--sweep examples/sweeps/demo.yaml] [--keep]
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureSweepInputs, readSweepFile } from '@fidlab/experiments';
import { createTestDatabase, type TestDatabase } from '@fidlab/testing';
import { busSettings, connectBus, ensureTopology, listWorkers } from '../src/index.js';
import { TestNatsServer } from '../test/natsServer.js';

const { values } = parseArgs({
  options: {
    sweep: { type: 'string', default: 'examples/sweeps/demo.yaml' },
    // Keep the work folder (logs, runs) and print where it is.
    keep: { type: 'boolean', default: false },
  },
});
const root = join(import.meta.dirname, '../../..');
const fidlab = join(root, 'apps/cli/bin/fidlab.js');
const sweepFile = resolve(root, values.sweep);
const work = mkdtempSync(join(tmpdir(), 'fidlab-demo-bench-'));
const log = (l: string) => process.stderr.write(l + '\n');
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Runs the CLI in the work folder (the sweep's relative data root resolves there). */
function cli(args: string[], logName: string) {
  const out = createWriteStream(join(work, logName));
  const child = spawn(process.execPath, [fidlab, ...args], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const exited = new Promise<number>((r) =>
    child.once('exit', (code, signal) => r(code ?? (signal ? 128 : 1))),
  );
  return { child, exited };
}

async function timed(args: string[], logName: string) {
  const load0 = load();
  const t0 = performance.now();
  const code = await cli(args, logName).exited;
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0)
    throw new Error(`fidlab ${args.join(' ')} exited ${code}; see ${join(work, logName)}`);
  return { wall, t0, load: `${load0} -> ${load()}` };
}

async function newDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ prefix: 'fidlab_demo_bench' });
  if (typeof db === 'string') throw new Error(db);
  return db;
}

interface EpochRow {
  key: string;
  epoch: number;
  losses: unknown;
  latency_ms: number | null;
  values: number;
}
interface ValueRow {
  key: string;
  epoch: number;
  name: string;
  value: number;
  ci_low: number | null;
  ci_high: number | null;
}

/** What a run of the sweep left in its database. */
async function readBack(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const epochs = (
      await c.query<EpochRow>(`
        SELECT r.key, e.epoch, e.losses,
          (EXTRACT(EPOCH FROM max(m.created_at) - e.created_at) * 1000)::float8 AS latency_ms,
          count(m.id)::int AS values
        FROM epochs e JOIN runs r ON r.id = e.run_id
          LEFT JOIN metric_values m ON m.run_id = e.run_id AND m.epoch = e.epoch
        GROUP BY r.key, e.epoch, e.losses, e.created_at ORDER BY r.key, e.epoch`)
    ).rows;
    const metricValues = (
      await c.query<ValueRow>(`
        SELECT r.key, m.epoch, m.name, m.value, m.ci_low, m.ci_high
        FROM metric_values m JOIN runs r ON r.id = m.run_id ORDER BY r.key, m.epoch, m.name`)
    ).rows;
    return { epochs, metricValues };
  } finally {
    await c.end();
  }
}

function latency(epochs: EpochRow[]) {
  const ms = epochs.flatMap((e) => (e.latency_ms === null ? [] : [e.latency_ms]));
  return {
    epochs: epochs.length,
    unevaluated: epochs.filter((e) => e.values === 0).length,
    p50_ms: Math.round(quantile(ms, 0.5)),
    p95_ms: Math.round(quantile(ms, 0.95)),
    max_ms: Math.round(Math.max(...ms)),
  };
}

/** Rows of (a) and (b) compared by (run key, epoch[, name]): exact equality of every number. */
function compare(a: Awaited<ReturnType<typeof readBack>>, b: Awaited<ReturnType<typeof readBack>>) {
  const byKey = <T>(rows: T[], key: (r: T) => string) => new Map(rows.map((r) => [key(r), r]));
  const va = byKey(a.metricValues, (r) => `${r.key}:${r.epoch}:${r.name}`);
  const vb = byKey(b.metricValues, (r) => `${r.key}:${r.epoch}:${r.name}`);
  let valuesDiffer = 0;
  let maxRelDiff = 0;
  const examples: string[] = [];
  for (const [k, x] of va) {
    const y = vb.get(k);
    if (!y) continue;
    if (x.value !== y.value || x.ci_low !== y.ci_low || x.ci_high !== y.ci_high) {
      valuesDiffer++;
      maxRelDiff = Math.max(maxRelDiff, Math.abs(x.value - y.value) / Math.abs(x.value || 1));
      if (examples.length < 3) examples.push(`${k}: ${x.value} vs ${y.value}`);
    }
  }
  const ea = byKey(a.epochs, (r) => `${r.key}:${r.epoch}`);
  const eb = byKey(b.epochs, (r) => `${r.key}:${r.epoch}`);
  let lossesDiffer = 0;
  for (const [k, x] of ea)
    if (eb.has(k) && JSON.stringify(x.losses) !== JSON.stringify(eb.get(k)!.losses)) lossesDiffer++;
  return {
    values: [va.size, vb.size],
    onlyInOne:
      [...va.keys()].filter((k) => !vb.has(k)).length +
      [...vb.keys()].filter((k) => !va.has(k)).length,
    valuesDiffer,
    maxRelDiff,
    examples,
    epochs: [ea.size, eb.size],
    lossesDiffer,
  };
}

const dbA = await newDatabase();
const dbB = await newDatabase();
const nats = await TestNatsServer.start();
let workers: ReturnType<typeof cli> | null = null;
try {
  // The synthetic data set is rendered once, before either clock starts.
  const spec = await readSweepFile(sweepFile);
  process.chdir(work);
  await ensureSweepInputs(spec, log);
  log(`work folder ${work}; load ${load()}`);

  log('(a) in process');
  const a = await timed(
    ['run', sweepFile, '--db', dbA.url, '--runs-dir', join(work, 'runs-a')],
    'a-run.log',
  );
  log(`(a) ${a.wall.toFixed(1)} s (load ${a.load})`);

  log('(b) two workers over NATS');
  const w0 = performance.now();
  workers = cli(
    ['workers', 'start', '--nats', nats.url, '--db', dbB.url, '--count', '2'],
    'b-workers.log',
  );
  const nc = await connectBus({ servers: [nats.url] });
  const topology = await ensureTopology(nc, busSettings());
  while ((await listWorkers(topology)).length < 2) {
    if (workers.child.exitCode !== null)
      throw new Error(`fidlab workers start exited; see ${join(work, 'b-workers.log')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const workersUp = (performance.now() - w0) / 1000;
  await nc.close();
  const b = await timed(
    ['run', sweepFile, '--nats', nats.url, '--db', dbB.url, '--runs-dir', join(work, 'runs-b')],
    'b-run.log',
  );
  // `fidlab run --nats` ends when every trial is trained; the evaluation jobs of the last
  // checkpoints commit after it. (b) ends when its database holds as many epochs and values as
  // (a)'s did.
  const ra = await readBack(dbA.url);
  const want = { epochs: ra.epochs.length, values: ra.metricValues.length };
  const followerExit = b.wall;
  for (;;) {
    const rb = await readBack(dbB.url);
    if (rb.epochs.length >= want.epochs && rb.metricValues.length >= want.values) break;
    if (performance.now() - b.t0 > (followerExit + 1200) * 1000)
      throw new Error(
        `(b): ${rb.metricValues.length} of ${want.values} values 20 min after the follower exited`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
  b.wall = (performance.now() - b.t0) / 1000;
  log(
    `(b) ${b.wall.toFixed(1)} s to the last value (the follower exited at ${followerExit.toFixed(1)} s; load ${b.load}); the workers registered in ${workersUp.toFixed(1)} s before`,
  );

  const rb = await readBack(dbB.url);
  const result = {
    sweep: values.sweep,
    inProcess: { wall_s: +a.wall.toFixed(1), load: a.load, latency: latency(ra.epochs) },
    distributed: {
      wall_s: +b.wall.toFixed(1),
      followerExit_s: +followerExit.toFixed(1),
      load: b.load,
      workersUp_s: +workersUp.toFixed(1),
      latency: latency(rb.epochs),
    },
    ratio: +(b.wall / a.wall).toFixed(2),
    same: compare(ra, rb),
  };
  log(
    `distributed / in-process wall time: ${result.ratio} (${b.wall.toFixed(1)} s / ${a.wall.toFixed(1)} s)`,
  );
  console.log(JSON.stringify(result));
} finally {
  if (workers && workers.child.exitCode === null) {
    workers.child.kill('SIGTERM');
    await workers.exited;
  }
  await nats.stop();
  await dbA.drop();
  await dbB.drop();
  if (values.keep) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
