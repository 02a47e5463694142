// Prisma records -> the plain row shapes of types.ts (dates as ISO strings, JSON as JsonValue).
import { iso } from './validate.js';
import type { JsonValue, RunRow, RunStatus, SweepRow, SweepStatus, WorkerRow } from './types.js';

export type RunRecord = {
  id: number;
  sweepId: number;
  key: string;
  parameters: unknown;
  status: string;
  attempt: number;
  workerId: string | null;
  claimedBy: string | null;
  error: string | null;
  runDir: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  sweep: { name: string };
};

export function runRow(r: RunRecord): RunRow {
  return {
    id: r.id,
    sweepId: r.sweepId,
    sweep: r.sweep.name,
    key: r.key,
    parameters: r.parameters as JsonValue,
    status: r.status as RunStatus,
    attempt: r.attempt,
    workerId: r.workerId,
    claimedBy: r.claimedBy,
    error: r.error,
    runDir: r.runDir,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
  };
}

export function sweepRow(s: {
  id: number;
  name: string;
  spec: unknown;
  status: string;
  createdAt: Date;
  updatedAt: Date;
}): SweepRow {
  return {
    id: s.id,
    name: s.name,
    spec: s.spec as JsonValue,
    status: s.status as SweepStatus,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

export function workerRow(w: {
  id: string;
  hostname: string;
  pid: number | null;
  info: unknown;
  status: string;
  startedAt: Date;
  lastSeenAt: Date;
}): WorkerRow {
  return {
    id: w.id,
    hostname: w.hostname,
    pid: w.pid,
    info: (w.info ?? null) as JsonValue | null,
    status: w.status,
    startedAt: w.startedAt.toISOString(),
    lastSeenAt: w.lastSeenAt.toISOString(),
  };
}
