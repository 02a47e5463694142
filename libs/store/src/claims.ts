// Claims of runs by workers, and the fence every write under a claim passes. A claim bumps the
// run's claim_generation in one UPDATE ... RETURNING; it is refused while another worker holds a
// live claim (its heartbeat in `workers` is fresher than the live bound) unless stolen. A write
// under a claim locks the run's row (FOR SHARE, so it waits for a concurrent claim to commit and
// a claim waits for it) and is refused with STALE_CLAIM once the generation has moved on, in the
// same transaction as the write.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { Claim } from '@fidlab/experiments';
import type { Prisma } from './generated/prisma/client.js';
import type { StoreContext } from './context.js';
import { requireName } from './validate.js';

/** A claim is live while its worker's last heartbeat is at most this old (default). */
export const DEFAULT_CLAIM_LIVE_MS = 60_000;

/**
 * Takes the run for `workerId` (bumping its generation): null when another worker's claim is
 * live, unless `steal`. The same worker may claim again (a new generation fences its old one).
 */
export async function claimRun(
  ctx: StoreContext,
  runId: number,
  workerId: string,
  opts: { steal?: boolean; liveMs?: number } = {},
): Promise<Claim | null> {
  requireName(workerId, 'worker id');
  const liveMs = opts.liveMs ?? ctx.claimLiveMs ?? DEFAULT_CLAIM_LIVE_MS;
  if (!Number.isFinite(liveMs) || liveMs < 0)
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `claim live bound must be a non-negative number of ms, got ${liveMs}`,
    );
  const rows = await ctx.prisma.$queryRaw<{ generation: number; sweep_id: number }[]>`
    UPDATE runs r
    SET claim_generation = r.claim_generation + 1, claimed_by = ${workerId}, claimed_at = now()
    WHERE r.id = ${runId}::int AND (
      ${opts.steal === true}::boolean OR r.claimed_by IS NULL OR r.claimed_by = ${workerId}
      OR NOT EXISTS (
        SELECT 1 FROM workers w WHERE w.id = r.claimed_by
          AND w.last_seen_at > now() - make_interval(secs => ${liveMs / 1000}::float8)))
    RETURNING r.claim_generation AS generation, r.sweep_id`;
  if (rows.length === 0) {
    const exists = await ctx.prisma.run.findUnique({ where: { id: runId }, select: { id: true } });
    if (!exists) throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${runId}`);
    return null;
  }
  ctx.changed({ kind: 'run', runId, sweepId: Number(rows[0].sweep_id) });
  return { runId, workerId, generation: Number(rows[0].generation) };
}

/** Gives the run up (clears the holder) if `claim` is still its current claim; else nothing. */
export async function releaseClaim(ctx: StoreContext, claim: Claim): Promise<void> {
  await ctx.prisma.$executeRaw`
    UPDATE runs SET claimed_by = NULL, claimed_at = NULL
    WHERE id = ${claim.runId}::int AND claim_generation = ${claim.generation}::int
      AND claimed_by = ${claim.workerId}`;
  ctx.changed({ kind: 'run', runId: claim.runId });
}

/**
 * Inside a transaction, before a write for `runId` under `claim`: locks the run's row against a
 * concurrent claim and throws STALE_CLAIM when the run's generation is no longer the claim's.
 */
export async function fence(
  tx: Prisma.TransactionClient,
  runId: number,
  claim: Claim,
): Promise<void> {
  if (claim.runId !== runId)
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `a claim of run ${claim.runId} cannot write to run ${runId}`,
    );
  const rows = await tx.$queryRaw<{ generation: number; claimed_by: string | null }[]>`
    SELECT claim_generation AS generation, claimed_by FROM runs WHERE id = ${runId}::int FOR SHARE`;
  if (rows.length === 0) throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${runId}`);
  const current = Number(rows[0].generation);
  if (current !== claim.generation)
    throw new FidlabError(
      ErrorCode.STALE_CLAIM,
      `run ${runId}: the claim of worker ${claim.workerId} (generation ${claim.generation}) was replaced by generation ${current}${rows[0].claimed_by ? ` of worker ${rows[0].claimed_by}` : ''}; write refused`,
    );
}

/** Runs `write` after the fence in one transaction, or alone when there is no claim. */
export async function fenced<T>(
  ctx: StoreContext,
  runId: number,
  claim: Claim | undefined,
  write: (client: Prisma.TransactionClient) => Promise<T>,
): Promise<T> {
  if (!claim) return write(ctx.prisma);
  return ctx.prisma.$transaction(async (tx) => {
    await fence(tx, runId, claim);
    return write(tx);
  });
}
