// What the distributed suites share: their own nats-server and PostgreSQL database per test,
// worker processes (`fidlab worker`, from the sources) whose output is kept and searched, a
// PostgreSQL server of their own for the database-restart test, and reading what the bus kept.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import {
  busSettings,
  connectBus,
  decodeEvent,
  ensureTopology,
  NatsDispatcher,
  type BusSettings,
  type EventMessage,
  type NatsConnection,
  type Topology,
} from '@fidlab/bus';
import type { TrialJob } from '@fidlab/experiments';
import { openStore, type Store } from '@fidlab/store';
import {
  freePort,
  natsSkipReason,
  TestNatsServer,
  waitForPort,
} from '../../libs/bus/test/natsServer.js';
import { createTestDatabase, type TestDatabase } from '@fidlab/testing';

export { TestNatsServer };

const root = join(import.meta.dirname, '../..');
const workerMain = join(import.meta.dirname, 'fidlabWorker.ts');

/** Small leases and backoffs so that faults show within seconds. */
export const TEST_BUS: Partial<BusSettings> = {
  ackWaitMs: 3000,
  maxDeliver: 3,
  backoffMs: [300, 600],
  workerTtlMs: 4000,
};

export function busEnv(s: Partial<BusSettings> = TEST_BUS): NodeJS.ProcessEnv {
  return {
    FIDLAB_BUS_ACK_WAIT_MS: String(s.ackWaitMs),
    FIDLAB_BUS_MAX_DELIVER: String(s.maxDeliver),
    FIDLAB_BUS_BACKOFF_MS: s.backoffMs!.join(','),
    FIDLAB_BUS_WORKER_TTL_MS: String(s.workerTtlMs),
  };
}

/** One line saying why the suite skips, or null (throws under FIDLAB_REQUIRE_SERVICES=1). */
export async function servicesSkipReason(): Promise<string | null> {
  const nats = natsSkipReason();
  if (nats) return nats;
  const db = await createTestDatabase({ prefix: 'fidlab_probe' });
  if (typeof db === 'string') return db;
  await db.drop();
  return null;
}

export const until = async (
  what: string | (() => string),
  cond: () => boolean | Promise<boolean>,
  ms = 60_000,
): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end)
      throw new Error(
        `timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** A test's world: its nats-server, its database, a store and a bus connection of its own. */
export class World {
  private constructor(
    readonly nats: TestNatsServer,
    readonly db: { url: string; drop(): Promise<void> },
    readonly store: Store,
    readonly nc: NatsConnection,
    readonly topology: Topology,
    readonly dir: string,
  ) {}

  static async create(opts: { dbUrl?: string } = {}): Promise<World> {
    const nats = await TestNatsServer.start();
    let db: { url: string; drop(): Promise<void> };
    if (opts.dbUrl) db = { url: opts.dbUrl, drop: async () => {} };
    else {
      const t = await createTestDatabase({ prefix: 'fidlab_dist' });
      if (typeof t === 'string') throw new Error(t);
      db = t as TestDatabase;
    }
    const store = await openStore({ url: db.url });
    const nc = await connectBus({ servers: [nats.url] });
    const topology = await ensureTopology(nc, busSettings(TEST_BUS));
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-dist-'));
    return new World(nats, db, store, nc, topology, dir);
  }

  /** Creates a sweep of fake trials in the store and queues their jobs. */
  async submitFake(sweep: string, params: Record<string, unknown>[]): Promise<TrialJob[]> {
    const s = await this.store.upsertSweep({
      name: sweep,
      spec: { fake: true },
      status: 'running',
    });
    const d = new NatsDispatcher(this.nc, this.topology);
    const jobs: TrialJob[] = [];
    for (const [i, p] of params.entries()) {
      const key = `t${i}`;
      const runDir = join(this.dir, sweep, key);
      const r = await this.store.upsertRun({ sweepId: s.id, key, parameters: p, runDir });
      const job: TrialJob = {
        kind: 'trial',
        sweep,
        runId: r.id,
        runKey: key,
        spec: { fake: true } as never,
        parameters: p as never,
        runDir,
      };
      await d.submit(job, { attempt: r.attempt });
      jobs.push(job);
    }
    return jobs;
  }

  worker(args: string[] = [], env: NodeJS.ProcessEnv = {}): WorkerProcess {
    return new WorkerProcess(
      [
        '--nats',
        this.nats.url,
        '--db',
        this.db.url,
        '--runs-dir',
        join(this.dir, 'runs'),
        '--fake',
        ...args,
      ],
      { ...busEnv(), FIDLAB_FAKE_EPOCH_MS: '700', ...env },
    );
  }

  /** Every event of a sweep the events stream kept. */
  async events(sweep: string): Promise<EventMessage[]> {
    const { names, jsm } = this.topology;
    const subject = names.eventSubject(sweep);
    const info = await jsm.streams.info(names.eventStream, { subjects_filter: subject });
    const n = (info.state.subjects as Record<string, number> | undefined)?.[subject] ?? 0;
    if (n === 0) return [];
    const c = await jetstream(this.nc).consumers.get(names.eventStream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const out: EventMessage[] = [];
    const it = await c.fetch({ max_messages: n, expires: 5000 });
    for await (const m of it) {
      out.push(decodeEvent(m.data));
      if (out.length >= n) break;
    }
    return out;
  }

  /** Epoch rows and metric rows of a sweep, grouped by key, with their counts. */
  async rows(sweep: string) {
    const runs = (await this.store.getSweep(sweep)) ? await this.store.listRuns({ sweep }) : [];
    const epochs = new Map<string, number>();
    const metrics = new Map<string, number>();
    for (const r of runs) {
      for (const e of await this.store.runEpochs(r.id)) {
        const k = `${r.key}:${e.epoch}`;
        epochs.set(k, (epochs.get(k) ?? 0) + 1);
        for (const m of Object.keys(e.metrics)) {
          const km = `${k}:${m}`;
          metrics.set(km, (metrics.get(km) ?? 0) + 1);
        }
      }
    }
    return { runs, epochs, metrics };
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => {});
    await this.store.close().catch(() => {});
    await this.nats.stop();
    await this.db.drop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A `fidlab worker` process; its stderr lines are kept for the test to search. */
export class WorkerProcess {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: NodeJS.ProcessEnv, main = workerMain) {
    this.proc = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@fidlab/source', main, ...args],
      { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buf = '';
    const take = (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    this.exited = new Promise((r) => this.proc.once('exit', (code) => r(code)));
  }

  /** The worker id it announced. */
  async id(): Promise<string> {
    const re = /^fidlab worker (\S+) on /;
    await this.waitFor(re);
    return re.exec(this.lines.find((l) => re.test(l))!)![1];
  }

  has(re: RegExp): boolean {
    return this.lines.some((l) => re.test(l));
  }

  waitFor(re: RegExp, ms = 60_000): Promise<void> {
    return until(
      `a worker line matching ${re}\n${this.lines.slice(-15).join('\n')}`,
      () => this.has(re),
      ms,
    );
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return this.exited;
  }
}

/** What `fidlab-coordinator` prints once it serves. */
export interface CoordinatorListening {
  url: string;
  nats: string;
}

/**
 * `fidlab-coordinator` (from the sources) on the world's servers with `extra` flags, once it
 * listens; `track` is the suite's (so a failed test does not leave it running).
 */
export async function coordinatorProcess(
  w: World,
  extra: string[],
  track: (p: WorkerProcess) => WorkerProcess,
): Promise<{ proc: WorkerProcess; listening: CoordinatorListening; api: string }> {
  const proc = track(
    new WorkerProcess(
      ['--nats', w.nats.url, '--db', w.db.url, '--port', '0', ...extra],
      busEnv(),
      'test/distributed/coordinatorMain.ts',
    ),
  );
  await proc.waitFor(/^\{"type":"listening"/);
  const listening = JSON.parse(
    proc.lines.find((l) => l.startsWith('{"type":"listening"'))!,
  ) as CoordinatorListening;
  return { proc, listening, api: listening.url.replace(/\/trpc$/, '') };
}

// ---- a PostgreSQL server of the test's own (to restart it) -------------------------------

export function postgresBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  for (const v of readdirSync(base).sort().reverse()) {
    const bin = join(base, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

/** initdb + pg_ctl in a temp dir on a free port, run as the postgres user when we are root. */
export class OwnPostgres {
  private constructor(
    readonly bin: string,
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private static run(cmd: string, args: string[]) {
    const asRoot = process.getuid?.() === 0;
    const r = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' })
      : spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  }

  static async start(): Promise<OwnPostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL server binaries not installed');
    const parent = mkdtempSync(join(tmpdir(), 'fidlab-pg-'));
    chmodSync(parent, 0o777);
    const dir = join(parent, 'data');
    const pg = new OwnPostgres(bin, dir, await freePort());
    OwnPostgres.run(join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '-A', 'trust', '--no-sync']);
    await pg.up();
    return pg;
  }

  async up(): Promise<void> {
    OwnPostgres.run(join(this.bin, 'pg_ctl'), [
      '-D',
      this.dir,
      '-l',
      join(this.dir, 'log'),
      '-o',
      `-p ${this.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ]);
    await waitForPort(this.port);
  }

  async down(): Promise<void> {
    OwnPostgres.run(join(this.bin, 'pg_ctl'), ['-D', this.dir, '-m', 'fast', '-w', 'stop']);
  }

  async stop(): Promise<void> {
    await this.down().catch(() => {});
    rmSync(join(this.dir, '..'), { recursive: true, force: true });
  }
}

/**
 * A sweep file for simulated workers: one trial per seed, 3 epochs each, one metric (`fake_fid`,
 * which the fake evaluator records) over `extractor`; a tiny data set is made on submission.
 */
export function fakeSweepFile(
  w: World,
  name: string,
  opts: { seeds: number[]; extractor?: string },
): string {
  const file = join(w.dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
data:
  root: ${join(w.dir, 'data')}
  size: 32
  synth: { identities: 2, per_identity: 2, seed: 1, size: 32 }
method: grid
parameters:
  seed: { values: [${opts.seeds.join(', ')}] }
fixed: { model: unet, direction: photo2sketch, epochs: 3, epochs_decay: 0 }
evaluate:
  every: 1
  split: test
  metrics: [{ name: fake_fid, kind: fid, extractor: ${opts.extractor ?? 'facerec'} }]
select: { metric: fake_fid, goal: min }
`,
  );
  return file;
}

/**
 * What a suite opens and starts, closed and killed (newest first) after it: register with the
 * suite's `after`. `track` kills a process at the end (`kill`: how, when SIGKILL is not enough).
 */
export function suiteResources(after: (fn: () => Promise<void>) => void) {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });
  return {
    cleanup,
    async world(): Promise<World> {
      const w = await World.create();
      cleanup.push(() => w.close());
      return w;
    },
    track(p: WorkerProcess, kill?: (p: WorkerProcess) => void): WorkerProcess {
      cleanup.push(async () => {
        kill?.(p);
        p.signal('SIGKILL');
        await p.exited;
      });
      return p;
    },
  };
}
