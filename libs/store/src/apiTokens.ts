// API tokens: only each token's sha256 is stored; the clear token is shown once, at creation.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { StoreContext } from './context.js';
import { generateToken, hashToken } from './tokens.js';
import { requireName } from './validate.js';

/** Creates a token and returns it in clear; only its sha256 is stored. */
export async function createToken(ctx: StoreContext, name: string): Promise<string> {
  requireName(name, 'token name');
  const token = generateToken();
  const existing = await ctx.prisma.apiToken.findUnique({ where: { name } });
  if (existing && existing.revokedAt === null) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `a token named ${JSON.stringify(name)} exists already; revoke it first`,
    );
  }
  await ctx.prisma.apiToken.upsert({
    where: { name },
    create: { name, hash: hashToken(token) },
    update: { hash: hashToken(token), revokedAt: null, createdAt: new Date(), lastUsedAt: null },
  });
  return token;
}

/** The token's name when it is valid (not revoked), else null. */
export async function verifyToken(ctx: StoreContext, token: string): Promise<string | null> {
  const t = await ctx.prisma.apiToken.findUnique({ where: { hash: hashToken(token) } });
  if (!t || t.revokedAt !== null) return null;
  return t.name;
}

export async function revokeToken(ctx: StoreContext, name: string): Promise<boolean> {
  const r = await ctx.prisma.apiToken.updateMany({
    where: { name, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  return r.count > 0;
}

export async function listTokens(
  ctx: StoreContext,
): Promise<{ name: string; createdAt: string; revoked: boolean }[]> {
  const rows = await ctx.prisma.apiToken.findMany({ orderBy: { name: 'asc' } });
  return rows.map((t) => ({
    name: t.name,
    createdAt: t.createdAt.toISOString(),
    revoked: t.revokedAt !== null,
  }));
}
