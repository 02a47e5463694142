// Damage detection for the stores. PostgreSQL reads a truncated table file as an empty table
// (no error), and PGlite aborts inside its wasm on a truncated control file or WAL; both must end
// in one clear line instead of "no runs yet" or a crash dump.
// - Every clean close of the embedded store records the size of each table and index file in
//   fidlab.manifest.json; every open compares (a stat per file: microseconds). Relation files only
//   grow between closes (fidlab never VACUUMs the embedded store), so a smaller or missing file is
//   damage.
// - `fidlab store check` (deepCheck) also reads every table in full and again through its primary
//   key index, so a damaged page, a heap shorter than its index, or a row count that differs
//   between the two is found on either database.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { RawSql } from './database.js';
import { LOCK_FILE } from './lock.js';

export const MANIFEST_FILE = 'fidlab.manifest.json';

interface Relation {
  name: string;
  kind: string;
  path: string;
}

interface Manifest {
  version: 1;
  closedAt: string;
  files: { name: string; path: string; bytes: number }[];
}

/** The error for a damaged store: names it and what to do. */
export function damagedStore(location: string, detail: string, cause?: unknown): FidlabError {
  return new FidlabError(
    ErrorCode.INVALID_CONFIG,
    `the store ${location} is damaged (${detail}); restore a backup with 'fidlab store restore FILE'` +
      (location.startsWith('postgres')
        ? ' (or pg_restore)'
        : `, or move the folder away to start a new store`),
    cause === undefined ? undefined : { cause },
  );
}

/** Whether `dir` already holds a PostgreSQL data folder (as opposed to a new, empty store). */
export function isDataDir(dir: string): boolean {
  return existsSync(join(dir, 'PG_VERSION'));
}

const RELATIONS_SQL = `SELECT c.relname AS name, c.relkind AS kind, pg_relation_filepath(c.oid) AS path
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY c.relname`;

function fileSize(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/** Records the size of every table and index file (called on a clean close). */
export async function writeManifest(sql: RawSql, dir: string): Promise<void> {
  const rels = await sql.query<Relation>(RELATIONS_SQL);
  const files = rels
    .filter((r) => r.path)
    .map((r) => ({ name: r.name, path: r.path, bytes: fileSize(join(dir, r.path)) ?? 0 }));
  const m: Manifest = { version: 1, closedAt: new Date().toISOString(), files };
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(m) + '\n');
}

/** Problems found by comparing the relation files with the last clean close (empty: none). */
export async function manifestProblems(sql: RawSql, dir: string): Promise<string[]> {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  } catch {
    return []; // none yet (a new store, or one written before manifests)
  }
  if (m.version !== 1 || !Array.isArray(m.files)) return [`${MANIFEST_FILE} is unreadable`];
  const now = new Map((await sql.query<Relation>(RELATIONS_SQL)).map((r) => [r.name, r.path]));
  const problems: string[] = [];
  for (const f of m.files) {
    // A relation rewritten since (new file) or dropped by a migration is not comparable.
    if (now.get(f.name) !== f.path) continue;
    const size = fileSize(join(dir, f.path));
    if (size === null) problems.push(`${f.name}: file ${f.path} is missing`);
    else if (size < f.bytes)
      problems.push(`${f.name}: file ${f.path} is ${size} bytes, was ${f.bytes} at the last close`);
  }
  return problems;
}

export interface CheckReport {
  ok: boolean;
  /** One line per table: name, rows. */
  tables: { name: string; rows: number }[];
  problems: string[];
}

/**
 * Reads every table twice (a sequential scan and an index scan on its primary key) and compares
 * the counts; any read error (a damaged page, a heap shorter than its index) is a problem.
 */
export async function deepCheck(sql: RawSql): Promise<CheckReport> {
  const tables = await sql.query<{ name: string; pk: string | null }>(
    `SELECT c.relname AS name,
       (SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = c.oid AND i.indisprimary LIMIT 1) AS pk
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname`,
  );
  const report: CheckReport = { ok: true, tables: [], problems: [] };
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  for (const t of tables) {
    try {
      const [seq] = await sql.query<{ n: string | number }>(
        `SELECT count(*) AS n FROM ${q(t.name)}`,
      );
      let rows = Number(seq.n);
      if (t.pk) {
        await sql.exec(
          'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off',
        );
        try {
          const [idx] = await sql.query<{ n: string | number }>(
            `SELECT count(*) AS n FROM (SELECT ${q(t.pk)} FROM ${q(t.name)} ORDER BY ${q(t.pk)} OFFSET 0) s`,
          );
          if (Number(idx.n) !== rows) {
            report.problems.push(
              `${t.name}: ${rows} rows in the table but ${Number(idx.n)} through its primary key index`,
            );
            rows = Math.max(rows, Number(idx.n));
          }
        } finally {
          await sql.exec(
            'RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexonlyscan',
          );
        }
      }
      report.tables.push({ name: t.name, rows });
    } catch (err) {
      report.problems.push(`${t.name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  report.ok = report.problems.length === 0;
  return report;
}

/** Files fidlab keeps in an embedded store folder besides PostgreSQL's own. */
export const FIDLAB_FILES = [LOCK_FILE, MANIFEST_FILE];
