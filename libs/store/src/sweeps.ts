// Sweeps: create/update, status, list with run counts, cancel.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Prisma } from './generated/prisma/client.js';
import type { StoreContext } from './context.js';
import { sweepRow } from './rows.js';
import {
  SWEEP_STATUSES,
  type RunStatus,
  type SweepRow,
  type SweepStatus,
  type SweepSummary,
} from './types.js';
import { checkStatus, requireName } from './validate.js';

/** Creates the sweep or updates its spec (and status when given). */
export async function upsertSweep(
  ctx: StoreContext,
  input: { name: string; spec: unknown; status?: SweepStatus },
): Promise<SweepRow> {
  requireName(input.name, 'sweep name');
  if (input.status !== undefined) checkStatus(input.status, SWEEP_STATUSES, 'sweep status');
  const spec = (input.spec ?? {}) as Prisma.InputJsonValue;
  const s = await ctx.prisma.sweep.upsert({
    where: { name: input.name },
    create: { name: input.name, spec, status: input.status ?? 'pending' },
    update: { spec, ...(input.status ? { status: input.status } : {}) },
  });
  ctx.changed({ kind: 'sweep', sweepId: s.id });
  return sweepRow(s);
}

export async function getSweep(ctx: StoreContext, name: string): Promise<SweepRow | null> {
  const s = await ctx.prisma.sweep.findUnique({ where: { name } });
  return s ? sweepRow(s) : null;
}

/** The sweep, or NOT_FOUND naming it. */
export async function sweepOrThrow(ctx: StoreContext, name: string): Promise<SweepRow> {
  const s = await getSweep(ctx, name);
  if (!s)
    throw new FidlabError(
      ErrorCode.NOT_FOUND,
      `no sweep named ${JSON.stringify(name)} in the store`,
    );
  return s;
}

export async function setSweepStatus(
  ctx: StoreContext,
  name: string,
  status: SweepStatus,
): Promise<SweepRow> {
  checkStatus(status, SWEEP_STATUSES, 'sweep status');
  await sweepOrThrow(ctx, name);
  const s = await ctx.prisma.sweep.update({ where: { name }, data: { status } });
  ctx.changed({ kind: 'sweep', sweepId: s.id });
  return sweepRow(s);
}

export async function listSweeps(ctx: StoreContext): Promise<SweepSummary[]> {
  const sweeps = await ctx.prisma.sweep.findMany({ orderBy: { id: 'asc' } });
  const counts = await ctx.prisma.run.groupBy({
    by: ['sweepId', 'status'],
    _count: { _all: true },
  });
  return sweeps.map((s) => {
    const runs: Partial<Record<RunStatus, number>> = {};
    for (const c of counts) if (c.sweepId === s.id) runs[c.status as RunStatus] = c._count._all;
    return { ...sweepRow(s), runs };
  });
}

/** Marks the sweep cancelled and every pending or running run of it cancelled. */
export async function cancelSweep(
  ctx: StoreContext,
  name: string,
): Promise<{ sweep: SweepRow; cancelledRuns: number }> {
  const s = await sweepOrThrow(ctx, name);
  const [sweep, runs] = await ctx.prisma.$transaction([
    ctx.prisma.sweep.update({ where: { id: s.id }, data: { status: 'cancelled' } }),
    ctx.prisma.run.updateMany({
      where: { sweepId: s.id, status: { in: ['pending', 'running'] } },
      data: { status: 'cancelled', finishedAt: new Date() },
    }),
  ]);
  ctx.changed({ kind: 'sweep', sweepId: s.id });
  return { sweep: sweepRow(sweep), cancelledRuns: runs.count };
}
