// Epochs: losses, checkpoint and duration per (run, epoch); idempotent writes; a run's history.
import { ErrorCode, FidlabError } from '@fidlab/base';
import { Prisma } from './generated/prisma/client.js';
import type { Claim } from '@fidlab/experiments';
import { fenced } from './claims.js';
import type { StoreContext } from './context.js';
import {
  protocolOf,
  type Checkpoint,
  type EpochInput,
  type EpochRow,
  type JsonValue,
} from './types.js';
import { isForeignKeyError, MAX_BIND_PARAMS, requireEpoch, requireFinite } from './validate.js';

const EPOCH_COLUMNS = 7;

/** The epoch's columns, checked (finite losses and seconds, a valid epoch number). */
export function epochData(e: EpochInput) {
  requireEpoch(e.epoch);
  const losses: Record<string, number> = {};
  for (const [k, v] of Object.entries(e.losses ?? {})) {
    requireFinite(v, `loss ${k} at epoch ${e.epoch}`);
    losses[k] = v;
  }
  if (e.seconds != null) requireFinite(e.seconds, 'epoch seconds');
  return {
    losses,
    checkpointUri: e.checkpoint?.uri ?? null,
    checkpointSha256: e.checkpoint?.sha256 ?? null,
    checkpointBytes: e.checkpoint?.bytes != null ? BigInt(e.checkpoint.bytes) : null,
    seconds: e.seconds ?? null,
  };
}

/** Records (or re-records) one epoch's losses, checkpoint and duration; fenced under `claim`. */
export async function recordEpoch(
  ctx: StoreContext,
  runId: number,
  e: EpochInput,
  claim?: Claim,
): Promise<void> {
  const data = epochData(e);
  const row = await fenced(ctx, runId, claim, (client) =>
    client.epoch.upsert({
      where: { runId_epoch: { runId, epoch: e.epoch } },
      create: { runId, epoch: e.epoch, ...data },
      update: data,
      include: { run: { select: { sweepId: true } } },
    }),
  ).catch((err: unknown) => {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2003') {
      throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${runId}`);
    }
    throw err;
  });
  ctx.changed({ kind: 'epoch', runId, sweepId: row.run.sweepId });
}

/**
 * Records where an epoch's sample images are (an artifact folder and its manifest's sha256);
 * the epoch must be recorded already. Fenced under `claim`; re-recording replaces the ref.
 */
export async function recordSamples(
  ctx: StoreContext,
  runId: number,
  epoch: number,
  samples: Checkpoint,
  claim?: Claim,
): Promise<void> {
  requireEpoch(epoch);
  if (!samples.uri || !samples.sha256)
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `samples of run ${runId} epoch ${epoch}: an artifact URI and its sha256 are required`,
    );
  const row = await fenced(ctx, runId, claim, (client) =>
    client.epoch.updateMany({
      where: { runId, epoch },
      data: { samplesUri: samples.uri, samplesSha256: samples.sha256 },
    }),
  );
  if (row.count === 0)
    throw new FidlabError(ErrorCode.NOT_FOUND, `no epoch ${epoch} recorded for run ${runId}`);
  ctx.changed({ kind: 'epoch', runId });
}

/** An epoch row's checkpoint columns as a Checkpoint (null when none was recorded). */
function checkpointOfRow(e: {
  checkpointUri: string | null;
  checkpointSha256: string | null;
  checkpointBytes: bigint | null;
}): Checkpoint | null {
  if (e.checkpointUri === null) return null;
  return {
    uri: e.checkpointUri,
    sha256: e.checkpointSha256,
    bytes: e.checkpointBytes === null ? null : Number(e.checkpointBytes),
  };
}

/** The checkpoint recorded under this URI (with its sha256 and size), or null. */
export async function checkpointByUri(ctx: StoreContext, uri: string): Promise<Checkpoint | null> {
  const e = await ctx.prisma.epoch.findFirst({
    where: { checkpointUri: uri },
    orderBy: { id: 'desc' },
    select: { checkpointUri: true, checkpointSha256: true, checkpointBytes: true },
  });
  return e ? checkpointOfRow(e) : null;
}

/**
 * Bulk idempotent epoch write (INSERT ... ON CONFLICT (run_id, epoch) DO UPDATE), chunked under
 * the bind-parameter limit. Same meaning as recordEpoch per row; a later row for a key wins.
 */
export async function recordEpochRows(
  ctx: StoreContext,
  rows: (EpochInput & { runId: number })[],
): Promise<number> {
  const byKey = new Map<string, EpochInput & { runId: number }>();
  for (const e of rows) {
    requireEpoch(e.epoch);
    for (const [k, v] of Object.entries(e.losses ?? {}))
      requireFinite(v, `loss ${k} at epoch ${e.epoch}`);
    if (e.seconds != null) requireFinite(e.seconds, 'epoch seconds');
    byKey.set(`${e.runId}\u0000${e.epoch}`, e);
  }
  const unique = [...byKey.values()];
  const per = Math.floor(MAX_BIND_PARAMS / EPOCH_COLUMNS);
  for (let i = 0; i < unique.length; i += per) {
    const chunk = unique.slice(i, i + per);
    const values = chunk.map(
      (e) =>
        Prisma.sql`(${e.runId}::int, ${e.epoch}::int, ${JSON.stringify(e.losses ?? {})}::jsonb, ${e.checkpoint?.uri ?? null}::text, ${e.checkpoint?.sha256 ?? null}::text, ${e.checkpoint?.bytes ?? null}::bigint, ${e.seconds ?? null}::float8)`,
    );
    try {
      await ctx.prisma.$executeRaw`
        INSERT INTO epochs (run_id, epoch, losses, checkpoint_uri, checkpoint_sha256, checkpoint_bytes, seconds)
        VALUES ${Prisma.join(values)}
        ON CONFLICT (run_id, epoch) DO UPDATE SET
          losses = EXCLUDED.losses, checkpoint_uri = EXCLUDED.checkpoint_uri,
          checkpoint_sha256 = EXCLUDED.checkpoint_sha256, checkpoint_bytes = EXCLUDED.checkpoint_bytes,
          seconds = EXCLUDED.seconds`;
    } catch (err) {
      if (isForeignKeyError(err)) {
        throw new FidlabError(ErrorCode.NOT_FOUND, `epoch rows name a run that does not exist`);
      }
      throw err;
    }
    for (const runId of new Set(chunk.map((e) => e.runId))) ctx.changed({ kind: 'epoch', runId });
  }
  return unique.length;
}

/** Every epoch of a run with its losses, checkpoint and all metrics (ascending epoch). */
export async function runEpochs(ctx: StoreContext, runId: number): Promise<EpochRow[]> {
  const [epochs, metrics] = await Promise.all([
    ctx.prisma.epoch.findMany({ where: { runId }, orderBy: { epoch: 'asc' } }),
    ctx.prisma.metricValue.findMany({
      where: { runId },
      orderBy: [{ epoch: 'asc' }, { name: 'asc' }],
    }),
  ]);
  const byEpoch = new Map<number, EpochRow>();
  const get = (epoch: number): EpochRow => {
    let row = byEpoch.get(epoch);
    if (!row) {
      row = {
        epoch,
        losses: {},
        checkpoint: null,
        seconds: null,
        metrics: {},
        details: {},
        protocols: {},
      };
      byEpoch.set(epoch, row);
    }
    return row;
  };
  for (const e of epochs) {
    const row = get(e.epoch);
    row.losses = e.losses as Record<string, number>;
    row.seconds = e.seconds;
    row.checkpoint = checkpointOfRow(e);
    row.samples =
      e.samplesUri === null ? null : { uri: e.samplesUri, sha256: e.samplesSha256, bytes: null };
  }
  for (const m of metrics) {
    const row = get(m.epoch);
    row.metrics[m.name] = m.value;
    row.details[m.name] = {
      value: m.value,
      ciLow: m.ciLow,
      ciHigh: m.ciHigh,
      extractor: m.extractor,
      n1: m.n1,
      n2: m.n2,
      extra: (m.extra ?? null) as JsonValue | null,
    };
    row.protocols[m.name] = protocolOf(m.extra);
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}
