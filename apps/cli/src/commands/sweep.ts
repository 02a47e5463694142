// `fidlab sweep retry NAME [--run KEY]`: requeues failed trials of a sweep (jobs that went to the
// dead letters, or failed runs of any kind) on the NATS work queue; `fidlab sweep dead-letters`
// lists what is there and why.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Recorder } from '@fidlab/experiments';
import { parse, UsageError, type Command, type Io } from '../command.js';
import { BUS_FLAG_OPTIONS, BUS_FLAGS, connectFromFlags, openRecorderStore } from './busCommon.js';

const RETRY_USAGE =
  'usage: fidlab sweep retry NAME [--run KEY] --nats URL --db URL [--all-unfinished]';
const DEAD_USAGE = 'usage: fidlab sweep dead-letters [NAME] --nats URL [--json]';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'requeue failed trials of a sweep (retry) or list its dead letters',
  usage: `${RETRY_USAGE}
${DEAD_USAGE}

retry          requeues every failed trial of sweep NAME (or the one run KEY names, failed or
               not, unless it is done) on the NATS work queue with a new attempt number; the
               next worker resumes it from its last recorded checkpoint
  --all-unfinished  also requeue pending, running and cancelled trials (e.g. after the queue was
                    lost); a trial another worker still holds is fenced by its claim
dead-letters   lists the jobs that will not be retried any more, with their error
${BUS_FLAGS}`,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === 'retry') return retry(rest, io);
    if (sub === 'dead-letters') return deadLetters(rest, io);
    throw new UsageError(`unknown subcommand '${sub ?? ''}' (retry, dead-letters)`);
  },
};

async function retry(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: {
      ...BUS_FLAG_OPTIONS,
      db: { type: 'string' },
      run: { type: 'string' },
      'all-unfinished': { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1)
    throw new UsageError(`expected one sweep name, got ${positionals.length}`);
  const name = positionals[0];
  const { store } = await openRecorderStore(values.db);
  try {
    const sweep = await store.getSweep(name);
    if (!sweep) throw new FidlabError(ErrorCode.NOT_FOUND, `no sweep named '${name}' in the store`);
    const runs = (await store.listRuns({ sweep: name })).filter((r) =>
      values.run !== undefined
        ? r.key === values.run && r.status !== 'done'
        : r.status === 'failed' || (values['all-unfinished'] && r.status !== 'done'),
    );
    if (values.run !== undefined && runs.length === 0) {
      const r = await store.findRun(name, values.run);
      throw new FidlabError(
        ErrorCode.NOT_FOUND,
        r
          ? `run ${values.run} of sweep ${name} is done; nothing to retry`
          : `no run '${values.run}' in sweep ${name}`,
      );
    }
    if (runs.length === 0) {
      io.out(`sweep ${name}: no failed trials to retry`);
      return 0;
    }
    const { NatsDispatcher } = await import('@fidlab/bus');
    const { nc, topology } = await connectFromFlags(values, 'fidlab sweep retry');
    try {
      const d = new NatsDispatcher(nc, topology);
      if (sweep.status !== 'running') await store.setSweepStatus(name, 'running');
      for (const r of runs) {
        // A retry is a new attempt: a new message id, so it is never taken for the old job.
        const attempt = r.attempt + 1;
        await store.setRunStatus(r.id, 'pending', { attempt });
        const { rebuildTrialJob } = await import('@fidlab/experiments');
        const rebuilt = await rebuildTrialJob(sweep.spec, r, store as Recorder);
        const res = await d.publish(
          rebuilt ?? {
            kind: 'trial',
            sweep: name,
            runId: r.id,
            runKey: r.key,
            spec: sweep.spec as never,
            parameters: r.parameters as Record<string, string | number>,
            runDir: r.runDir ?? '',
          },
          { attempt },
        );
        io.out(
          `${r.key}: ${res.queued ? 'requeued' : 'already queued'} (attempt ${attempt}; was ${r.status}${r.error ? `: ${r.error}` : ''})`,
        );
      }
    } finally {
      await nc.drain().catch(() => {});
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function deadLetters(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: { ...BUS_FLAG_OPTIONS, json: { type: 'boolean', default: false } },
  });
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  const { readDeadLetters } = await import('@fidlab/bus');
  const { nc, topology } = await connectFromFlags(values, 'fidlab sweep dead-letters');
  try {
    const dead = await readDeadLetters(nc, topology, { sweep: positionals[0] });
    if (values.json)
      io.out(JSON.stringify({ deadLetters: dead.map(({ payload: _p, ...d }) => d) }));
    else if (dead.length === 0) io.out('no dead letters');
    else
      for (const d of dead)
        io.out(
          `${new Date(d.at).toISOString()}  ${d.kind}  ${d.sweep ?? '?'}/${d.runKey ?? '?'}  after ${d.deliveries} deliveries (${d.worker}): ${d.error}`,
        );
    return 0;
  } finally {
    await nc.close();
  }
}
