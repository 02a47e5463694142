// Workers: registration and heartbeats (a claim is live while its worker's heartbeat is fresh).
import type { Prisma } from './generated/prisma/client.js';
import type { StoreContext } from './context.js';
import { workerRow } from './rows.js';
import type { JsonValue, WorkerRow } from './types.js';
import { requireName } from './validate.js';

export async function registerWorker(
  ctx: StoreContext,
  w: { id: string; hostname: string; pid?: number | null; info?: JsonValue; status?: string },
): Promise<WorkerRow> {
  requireName(w.id, 'worker id');
  const data = {
    hostname: w.hostname,
    pid: w.pid ?? null,
    info: (w.info ?? undefined) as Prisma.InputJsonValue | undefined,
    status: w.status ?? 'idle',
    lastSeenAt: new Date(),
  };
  const row = await ctx.prisma.worker.upsert({
    where: { id: w.id },
    create: { id: w.id, ...data },
    update: data,
  });
  return workerRow(row);
}

export async function heartbeat(ctx: StoreContext, id: string, status?: string): Promise<void> {
  await ctx.prisma.worker.update({
    where: { id },
    data: { lastSeenAt: new Date(), ...(status ? { status } : {}) },
  });
}

export async function listWorkers(ctx: StoreContext): Promise<WorkerRow[]> {
  return (await ctx.prisma.worker.findMany({ orderBy: { id: 'asc' } })).map(workerRow);
}
