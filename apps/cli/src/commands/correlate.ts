import { existsSync, readFileSync } from 'node:fs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { correlate } from '@fidlab/fid-core';
import { parse, UsageError, type Command } from '../command.js';
import { fmt } from '../format.js';

/** Two numeric columns; an optional header row names them. Comma, tab or semicolon separated. */
export function readTwoColumns(path: string): {
  names: [string, string];
  x: number[];
  y: number[];
} {
  if (!existsSync(path)) throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `${path}: no such file`);
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((l, i) => ({ line: i + 1, cells: l.split(/[,;\t]/).map((c) => c.trim()) }))
    .filter((l) => l.cells.some((c) => c !== ''));
  let names: [string, string] = ['x', 'y'];
  if (lines.length && lines[0].cells.some((c) => c !== '' && Number.isNaN(Number(c)))) {
    const header = lines.shift()!;
    names = [header.cells[0] || 'x', header.cells[1] || 'y'];
  }
  const x: number[] = [];
  const y: number[] = [];
  for (const { line, cells } of lines) {
    if (cells.length !== 2) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${path}: line ${line} has ${cells.length} columns, expected 2`,
      );
    }
    const [a, b] = cells.map(Number);
    if (cells[0] === '' || cells[1] === '' || !Number.isFinite(a) || !Number.isFinite(b)) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${path}: line ${line}: '${cells.join(',')}' is not two finite numbers`,
      );
    }
    x.push(a);
    y.push(b);
  }
  if (x.length < 2)
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `${path}: needs at least 2 rows, got ${x.length}`,
    );
  return { names, x, y };
}

export const correlateCommand: Command = {
  name: 'correlate',
  summary: 'Pearson, Spearman and Kendall tau-b between two metric series (a two-column CSV)',
  usage: `usage: fidlab correlate X.csv [--json]

X.csv: two numeric columns (comma, tab or semicolon separated), optionally a header row,
e.g. one row per epoch with two FID variants.

  --json   print {"n", "pearson", "spearman", "kendall"}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false } },
    });
    if (positionals.length !== 1)
      throw new UsageError(`expected one X.csv, got ${positionals.length}`);
    const { names, x, y } = readTwoColumns(positionals[0]);
    const r = correlate(x, y);
    if (values.json) {
      io.out(
        JSON.stringify({ n: r.n, pearson: r.pearson, spearman: r.spearman, kendall: r.kendall }),
      );
    } else {
      io.out(`${names[0]} vs ${names[1]} (n=${r.n})`);
      io.out(`  pearson  ${fmt(r.pearson)}`);
      io.out(`  spearman ${fmt(r.spearman)}`);
      io.out(`  kendall  ${fmt(r.kendall)}  (tau-b)`);
    }
    return 0;
  },
};
