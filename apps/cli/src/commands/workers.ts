// `fidlab workers` (the registry) and `fidlab workers start` (one worker process per GPU).
import { spawn, type ChildProcess } from 'node:child_process';
import { numberOption, parse, UsageError, type Command, type Io } from '../command.js';
import {
  BUS_FLAG_OPTIONS,
  BUS_FLAGS,
  connectFromFlags,
  WORKER_FLAG_OPTIONS,
  workerFlagArgs,
} from './busCommon.js';

const LIST_USAGE = 'usage: fidlab workers --nats URL [--json]';
const START_USAGE = `usage: fidlab workers start --nats URL --db URL (--gpus 0,1,... [--evaluators N] | --count N)
                           [--runs-dir DIR] [--artifacts URI] [--backend NAME]`;

export const workersCommand: Command = {
  name: 'workers',
  summary: 'list the live workers (host, GPU, role, current job, last heartbeat), or start some',
  usage: `${LIST_USAGE}
${START_USAGE}

fidlab workers             lists every worker registered in NATS (a worker that stops beating
                           disappears after FIDLAB_BUS_WORKER_TTL_MS, default 30 s)
fidlab workers start       starts one trainer per GPU (CUDA_VISIBLE_DEVICES set to it) plus N
                           evaluators, or --count N workers of role any on a machine without GPUs;
                           forwards SIGINT/SIGTERM to them and exits when they all have: 0 when
                           every one exited 0, else 1 (restarts nothing: the queue gives a dead
                           worker's job to another)
  --gpus LIST      GPU indices, comma-separated
  --evaluators N   evaluator workers besides the trainers (default 0)
  --count N        workers without a GPU (role any)
  other flags (--db, --runs-dir, --artifacts, --backend, --fake) go to every worker
${BUS_FLAGS}`,
  async run(argv, io) {
    if (argv[0] === 'start') return start(argv.slice(1), io);
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { ...BUS_FLAG_OPTIONS, json: { type: 'boolean', default: false } },
    });
    if (positionals.length > 0)
      throw new UsageError(`unknown subcommand '${positionals[0]}' (start, or none to list)`);
    const { listWorkers } = await import('@fidlab/bus');
    const { nc, topology } = await connectFromFlags(values, 'fidlab workers');
    try {
      const workers = await listWorkers(topology, Date.now(), topology.settings.workerTtlMs);
      if (values.json) {
        io.out(JSON.stringify({ workers }));
        return 0;
      }
      if (workers.length === 0) {
        io.out('no live workers');
        return 0;
      }
      const now = Date.now();
      const rows = [['worker', 'host', 'gpu', 'role', 'job', 'heartbeat', 'done', 'failed']];
      for (const w of workers)
        rows.push([
          w.id,
          w.host,
          w.gpu ?? '-',
          w.role,
          w.job
            ? `${w.job.kind} ${w.job.sweep}/${w.job.runKey}${w.job.epoch !== null ? ` epoch ${w.job.epoch}` : ''} (${Math.round((now - w.job.since) / 1000)} s)`
            : 'idle',
          `${((now - w.heartbeatAt) / 1000).toFixed(1)} s ago`,
          String(w.jobsDone),
          String(w.jobsFailed),
        ]);
      const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
      for (const r of rows)
        io.out(r.map((c, j) => (j < r.length - 1 ? c.padEnd(widths[j]) : c)).join('  '));
      return 0;
    } finally {
      await nc.close();
    }
  },
};

async function start(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: {
      ...WORKER_FLAG_OPTIONS,
      gpus: { type: 'string' },
      evaluators: { type: 'string' },
      count: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if ((values.gpus === undefined) === (values.count === undefined))
    throw new UsageError('give either --gpus 0,1,... or --count N');
  const gpus =
    values.gpus
      ?.split(',')
      .map((g) => g.trim())
      .filter(Boolean) ?? [];
  for (const g of gpus)
    if (!/^\d+$/.test(g)) throw new UsageError(`--gpus: '${g}' is not a GPU index`);
  if (values.gpus !== undefined && gpus.length === 0) throw new UsageError('--gpus names no GPU');
  const evaluators = numberOption(values.evaluators, 'evaluators', 0, { integer: true, min: 0 });
  const count = numberOption(values.count, 'count', 0, { integer: true, min: 1 });
  // Everything but the start flags goes to each worker.
  const common = workerFlagArgs(values);
  const specs: { args: string[]; env: NodeJS.ProcessEnv; label: string }[] = [];
  for (const g of gpus)
    specs.push({
      args: ['--role', 'trainer', '--gpu', g],
      env: { CUDA_VISIBLE_DEVICES: g },
      label: `trainer gpu ${g}`,
    });
  for (let i = 0; i < evaluators; i++)
    specs.push({
      args: ['--role', 'evaluator'],
      // Evaluators share the first GPU when there is one; none on a CPU-only machine.
      env: gpus.length ? { CUDA_VISIBLE_DEVICES: gpus[0] } : {},
      label: `evaluator ${i + 1}`,
    });
  for (let i = 0; i < count; i++)
    specs.push({ args: ['--role', 'any'], env: {}, label: `worker ${i + 1}` });
  // Re-run this same CLI (from sources under tsx, or the built bin) as `fidlab worker`.
  const self = [...process.execArgv, process.argv[1]];
  const children: ChildProcess[] = [];
  const exits: Promise<number>[] = [];
  for (const s of specs) {
    const child = spawn(process.execPath, [...self, 'worker', ...s.args, ...common], {
      env: { ...process.env, ...s.env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    io.err(`fidlab workers: started ${s.label} (pid ${child.pid})`);
    children.push(child);
    exits.push(
      new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          io.err(
            `fidlab workers: ${s.label} (pid ${child.pid}) exited ${signal ? `on ${signal}` : code}`,
          );
          resolve(code ?? 1);
        }),
      ),
    );
  }
  const forward = (sig: NodeJS.Signals) => () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const codes = await Promise.all(exits);
    return codes.find((c) => c !== 0) ?? 0;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
