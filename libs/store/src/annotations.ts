// Team annotations: who launched a sweep, tags on sweeps and runs, and signed notes on either.
// Kept apart from the measurement tables: nothing here changes a result, only how people find it.
// Functions over a StoreContext; Store delegates to them.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { StoreContext } from './context.js';
import type { Annotations, NoteRow } from './types.js';

/** A tag: 1-64 characters of letters, digits and `_.:/+-` (no spaces, so a URL filter stays one word). */
const TAG = /^[\p{L}\p{N}_.:/+-]{1,64}$/u;
const MAX_TAGS = 32;
const MAX_NOTE = 10_000;

/** The target of an annotation: a sweep by name, or a run by id. */
export type AnnotationTarget = { sweep: string } | { runId: number };

export function checkTags(tags: string[]): string[] {
  if (!Array.isArray(tags) || tags.length > MAX_TAGS)
    throw new FidlabError(ErrorCode.INVALID_INPUT, `tags must be a list of at most ${MAX_TAGS}`);
  for (const t of tags) {
    if (typeof t !== 'string' || !TAG.test(t))
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `tag ${JSON.stringify(t)} must be 1-64 letters, digits or _.:/+- (no spaces)`,
      );
  }
  return [...new Set(tags)].sort();
}

async function resolveTarget(
  ctx: StoreContext,
  target: AnnotationTarget,
): Promise<{ sweepId: number; runId: number | null }> {
  if ('sweep' in target) {
    const s = await ctx.prisma.sweep.findUnique({
      where: { name: target.sweep },
      select: { id: true },
    });
    if (!s)
      throw new FidlabError(
        ErrorCode.NOT_FOUND,
        `no sweep named ${JSON.stringify(target.sweep)} in the store`,
      );
    return { sweepId: s.id, runId: null };
  }
  const r = await ctx.prisma.run.findUnique({
    where: { id: target.runId },
    select: { id: true, sweepId: true },
  });
  if (!r) throw new FidlabError(ErrorCode.NOT_FOUND, `no run with id ${target.runId}`);
  return { sweepId: r.sweepId, runId: r.id };
}

/** Records who launched a sweep, unless someone already is: the first launcher owns it. */
export async function claimSweepOwner(
  ctx: StoreContext,
  sweep: string,
  owner: string,
): Promise<string | null> {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 200)
    throw new FidlabError(ErrorCode.INVALID_INPUT, `owner must be 1-200 characters`);
  await ctx.prisma.sweep.updateMany({ where: { name: sweep, owner: null }, data: { owner } });
  const s = await ctx.prisma.sweep.findUnique({ where: { name: sweep }, select: { owner: true } });
  return s?.owner ?? null;
}

/** Replaces the tags of a sweep or run; returns them (deduplicated, sorted). */
export async function setTags(
  ctx: StoreContext,
  target: AnnotationTarget,
  tags: string[],
): Promise<string[]> {
  const clean = checkTags(tags);
  const t = await resolveTarget(ctx, target);
  if (t.runId === null)
    await ctx.prisma.sweep.update({ where: { id: t.sweepId }, data: { tags: clean } });
  else await ctx.prisma.run.update({ where: { id: t.runId }, data: { tags: clean } });
  return clean;
}

export async function addNote(
  ctx: StoreContext,
  target: AnnotationTarget,
  author: string,
  text: string,
): Promise<NoteRow> {
  const body = typeof text === 'string' ? text.trim() : '';
  if (body.length === 0 || body.length > MAX_NOTE)
    throw new FidlabError(ErrorCode.INVALID_INPUT, `a note must be 1-${MAX_NOTE} characters`);
  const t = await resolveTarget(ctx, target);
  const n = await ctx.prisma.note.create({
    data: { sweepId: t.sweepId, runId: t.runId, author, text: body },
  });
  return noteRow(n);
}

/** Owner, tags and notes of a sweep (notes on the sweep itself) or of a run, oldest note first. */
export async function annotations(
  ctx: StoreContext,
  target: AnnotationTarget,
): Promise<Annotations> {
  const t = await resolveTarget(ctx, target);
  const [owner, tags, notes] = await Promise.all([
    ctx.prisma.sweep.findUnique({ where: { id: t.sweepId }, select: { owner: true } }),
    t.runId === null
      ? ctx.prisma.sweep.findUnique({ where: { id: t.sweepId }, select: { tags: true } })
      : ctx.prisma.run.findUnique({ where: { id: t.runId }, select: { tags: true } }),
    ctx.prisma.note.findMany({
      where: { sweepId: t.sweepId, runId: t.runId },
      orderBy: { id: 'asc' },
    }),
  ]);
  return { owner: owner?.owner ?? null, tags: tags?.tags ?? [], notes: notes.map(noteRow) };
}

/** Owner and tags of every sweep, and the tags of every run that has any (for list filters). */
export async function listLabels(ctx: StoreContext): Promise<{
  sweeps: Record<string, { owner: string | null; tags: string[] }>;
  runs: Record<number, string[]>;
}> {
  const [sweeps, runs] = await Promise.all([
    ctx.prisma.sweep.findMany({ select: { name: true, owner: true, tags: true } }),
    ctx.prisma.run.findMany({
      where: { NOT: { tags: { isEmpty: true } } },
      select: { id: true, tags: true },
    }),
  ]);
  return {
    sweeps: Object.fromEntries(sweeps.map((s) => [s.name, { owner: s.owner, tags: s.tags }])),
    runs: Object.fromEntries(runs.map((r) => [r.id, r.tags])),
  };
}

function noteRow(n: {
  id: number;
  sweepId: number;
  runId: number | null;
  author: string;
  text: string;
  createdAt: Date;
}): NoteRow {
  return {
    id: n.id,
    sweepId: n.sweepId,
    runId: n.runId,
    author: n.author,
    text: n.text,
    createdAt: n.createdAt.toISOString(),
  };
}
