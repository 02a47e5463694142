// Runs: one per (sweep, trial key); status transitions; listing with the run_best summary.
import { ErrorCode, FidlabError } from '@fidlab/base';
import { Prisma } from './generated/prisma/client.js';
import type { Claim } from '@fidlab/experiments';
import { fenced } from './claims.js';
import type { StoreContext } from './context.js';
import { runRow } from './rows.js';
import { sweepOrThrow } from './sweeps.js';
import {
  RUN_STATUSES,
  type JsonValue,
  type RunRow,
  type RunStatus,
  type RunSummary,
  type UnfinishedRunRow,
} from './types.js';
import { checkStatus, parametersKey, requireName } from './validate.js';

const withSweepName = { sweep: { select: { name: true } } } as const;

/**
 * Returns the run identified by (sweep, key), creating it (status pending) if missing. An
 * existing run keeps its status and attempt; its parameters and runDir are refreshed.
 * `key` defaults to parametersKey(parameters).
 */
export async function upsertRun(
  ctx: StoreContext,
  input: { sweepId: number; key?: string; parameters: unknown; runDir?: string | null },
): Promise<RunRow> {
  const key = input.key ?? parametersKey(input.parameters);
  requireName(key, 'run key');
  const parameters = (input.parameters ?? {}) as Prisma.InputJsonValue;
  const r = await ctx.prisma.run.upsert({
    where: { sweepId_key: { sweepId: input.sweepId, key } },
    create: { sweepId: input.sweepId, key, parameters, runDir: input.runDir ?? null },
    update: { parameters, ...(input.runDir !== undefined ? { runDir: input.runDir } : {}) },
    include: withSweepName,
  });
  ctx.changed({ kind: 'run', sweepId: r.sweepId, runId: r.id });
  return runRow(r);
}

/**
 * The update a status change makes. `running` stamps startedAt (and bumps attempt unless
 * `attempt` is given); done/failed/cancelled stamp finishedAt. `error` is kept only for failed runs.
 */
export function runStatusData(
  status: RunStatus,
  opts: { error?: string | null; workerId?: string | null; attempt?: number },
): Prisma.RunUpdateInput {
  checkStatus(status, RUN_STATUSES, 'run status');
  const now = new Date();
  const data: Prisma.RunUpdateInput = { status };
  if (status === 'running') {
    data.startedAt = now;
    data.finishedAt = null;
    data.error = null;
    data.attempt = opts.attempt !== undefined ? opts.attempt : { increment: 1 };
  } else {
    if (opts.attempt !== undefined) data.attempt = opts.attempt;
    if (status !== 'pending') data.finishedAt = now;
    data.error = status === 'failed' ? (opts.error ?? 'failed') : null;
  }
  if (opts.workerId !== undefined) data.workerId = opts.workerId;
  return data;
}

/** Moves a run to a status (see runStatusData); fenced under `opts.claim`. */
export async function setRunStatus(
  ctx: StoreContext,
  runId: number,
  status: RunStatus,
  opts: { error?: string | null; workerId?: string | null; attempt?: number; claim?: Claim } = {},
): Promise<RunRow> {
  const data = runStatusData(status, opts);
  const r = await fenced(ctx, runId, opts.claim, (client) =>
    client.run.update({ where: { id: runId }, data, include: withSweepName }),
  ).catch((err: unknown) => {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') {
      throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${runId}`);
    }
    throw err;
  });
  ctx.changed({ kind: 'run', sweepId: r.sweepId, runId: r.id });
  return runRow(r);
}

export async function getRun(ctx: StoreContext, runId: number): Promise<RunRow | null> {
  const r = await ctx.prisma.run.findUnique({ where: { id: runId }, include: withSweepName });
  return r ? runRow(r) : null;
}

export async function findRun(
  ctx: StoreContext,
  sweep: string,
  key: string,
): Promise<RunRow | null> {
  const r = await ctx.prisma.run.findFirst({
    where: { key, sweep: { name: sweep } },
    include: withSweepName,
  });
  return r ? runRow(r) : null;
}

/**
 * Runs (of one sweep, or all), with last epoch, latest and best metric values, and the
 * evaluation protocols of each metric's values: all from the run_best summary rows, which
 * every metric write keeps up to date (refreshRunBest).
 */
export async function listRuns(
  ctx: StoreContext,
  opts: { sweep?: string; status?: RunStatus } = {},
): Promise<RunSummary[]> {
  if (opts.sweep !== undefined) await sweepOrThrow(ctx, opts.sweep);
  const runs = await ctx.prisma.run.findMany({
    where: {
      ...(opts.sweep !== undefined ? { sweep: { name: opts.sweep } } : {}),
      ...(opts.status !== undefined ? { status: opts.status } : {}),
    },
    include: { ...withSweepName, best: true },
    orderBy: { id: 'asc' },
  });
  const ids = runs.map((r) => r.id);
  const lastEpochs =
    ids.length === 0
      ? []
      : await ctx.prisma.epoch.groupBy({
          by: ['runId'],
          where: { runId: { in: ids } },
          _max: { epoch: true },
        });
  const lastEpoch = new Map(lastEpochs.map((e) => [e.runId, e._max.epoch]));
  return runs.map((r) => {
    const last: Record<string, number> = {};
    const best: RunSummary['best'] = {};
    const protocols: Record<string, number[]> = {};
    const lastProtocol: Record<string, number> = {};
    for (const b of r.best) {
      last[b.name] = b.lastValue;
      protocols[b.name] = [...b.protocols].sort((x, y) => x - y);
      lastProtocol[b.name] = b.lastProtocol;
      best[b.name] = {
        min: b.minValue,
        minEpoch: b.minEpoch,
        max: b.maxValue,
        maxEpoch: b.maxEpoch,
      };
    }
    let le = lastEpoch.get(r.id) ?? null;
    for (const b of r.best) le = Math.max(le ?? b.lastEpoch, b.lastEpoch);
    return { ...runRow(r), lastEpoch: le, last, best, protocols, lastProtocol };
  });
}

/**
 * Pending and running runs, of one sweep or of every running sweep: the lost-job check reads
 * these once per lease period, so it selects the few columns it needs (the runs' (sweep_id,
 * status) index finds them) instead of listing every run with its summary.
 */
export async function listUnfinishedRuns(
  ctx: StoreContext,
  opts: { sweep?: string } = {},
): Promise<UnfinishedRunRow[]> {
  const rows = await ctx.prisma.run.findMany({
    where: {
      status: { in: ['pending', 'running'] },
      sweep: opts.sweep !== undefined ? { name: opts.sweep } : { status: 'running' },
    },
    select: {
      id: true,
      key: true,
      status: true,
      attempt: true,
      parameters: true,
      runDir: true,
      sweep: { select: { name: true } },
    },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => ({
    id: r.id,
    sweep: r.sweep.name,
    key: r.key,
    status: r.status as RunStatus,
    attempt: r.attempt,
    parameters: r.parameters as JsonValue,
    runDir: r.runDir,
  }));
}
