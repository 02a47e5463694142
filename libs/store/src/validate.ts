// Input checks and small SQL helpers shared by the store's parts. Each check throws a FidlabError
// that names the value and what was expected.
import { createHash } from 'node:crypto';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { Prisma } from './generated/prisma/client.js';
import { DEFAULT_PROTOCOL, type MetricRow } from './types.js';

/** PostgreSQL's bind-parameter limit is 32,767 per statement; stay well under it. */
export const MAX_BIND_PARAMS = 30_000;

export const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function parseJson(v: unknown): unknown {
  return typeof v === 'string' ? JSON.parse(v) : v;
}

export function requireFinite(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new FidlabError(ErrorCode.NOT_FINITE, `${what} must be a finite number, got ${value}`);
  }
}

export function requireEpoch(epoch: number, what = 'epoch'): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 2_147_483_647) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what} must be a non-negative integer, got ${epoch}`,
    );
  }
}

/** extra.protocol, when given, is a positive integer (an evaluation protocol version). */
export function requireProtocol(r: MetricRow): void {
  const extra = r.extra;
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) return;
  if (!('protocol' in extra) || extra.protocol === undefined) return;
  const p = extra.protocol;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 2_147_483_647) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `metric ${r.name} at epoch ${r.epoch}: extra.protocol must be a positive integer, got ${JSON.stringify(p)}`,
    );
  }
}

/**
 * protocolOf(<extra>) in SQL, for a jsonb column: the CASE arms are evaluated in order, so the
 * numeric casts only see numbers.
 */
export function protocolSql(extra: string): Prisma.Sql {
  const p = Prisma.raw(extra);
  return Prisma.sql`(CASE
    WHEN jsonb_typeof(${p}->'protocol') IS DISTINCT FROM 'number' THEN ${DEFAULT_PROTOCOL}::int
    WHEN (${p}->>'protocol')::numeric BETWEEN 1 AND 2147483647
      AND (${p}->>'protocol')::numeric = trunc((${p}->>'protocol')::numeric)
      THEN (${p}->>'protocol')::numeric::int
    ELSE ${DEFAULT_PROTOCOL}::int END)`;
}

export function requireName(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what} must be 1-200 characters, got ${JSON.stringify(name)}`,
    );
  }
}

export function checkStatus(status: string, allowed: readonly string[], what: string): void {
  if (!allowed.includes(status)) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(status)}`,
    );
  }
}

/** Stable JSON (sorted keys) so that equal parameter sets hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Default trial key: the first 16 hex digits of sha256(canonical parameters). */
export function parametersKey(parameters: unknown): string {
  return createHash('sha256').update(canonicalJson(parameters)).digest('hex').slice(0, 16);
}

/** A foreign-key violation from either driver (Prisma's P2003, or the raw driver's message). */
export function isForeignKeyError(err: unknown): boolean {
  return (
    (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2003') ||
    /foreign key/i.test(String((err as Error)?.message))
  );
}
