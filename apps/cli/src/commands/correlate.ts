import { readFileSync } from 'node:fs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { correlate } from '@fidlab/fid-core';
import { parse, UsageError, type Command } from '../command.js';
import { fmt, parseDecimal } from '../format.js';
import { requireInputFile } from '../paths.js';
import { describeFile } from '../featureFiles.js';

/** Two numeric columns; an optional header row names them. Comma, tab or semicolon separated. */
export function readTwoColumns(path: string): {
  names: [string, string];
  x: number[];
  y: number[];
} {
  requireInputFile(path, '', 'a CSV file with two numeric columns');
  const bytes = readFileSync(path);
  const kind = describeFile(bytes);
  if (kind !== 'a text file (e.g. CSV or YAML)' && kind !== 'an empty file') {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path}: is ${kind}; expected a CSV file with two numeric columns`,
    );
  }
  const lines = bytes
    .toString('utf8')
    .split(/\r?\n/)
    .map((l, i) => ({ line: i + 1, cells: l.split(/[,;\t]/).map((c) => c.trim()) }))
    .filter((l) => l.cells.some((c) => c !== ''));
  let names: [string, string] = ['x', 'y'];
  if (lines.length && lines[0].cells.some((c) => c !== '' && Number.isNaN(parseDecimal(c)))) {
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
    const [a, b] = cells.map(parseDecimal);
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
    // A constant column has no variance: every coefficient is undefined (NaN). Say which.
    for (const [col, values_] of [
      [names[0], x],
      [names[1], y],
    ] as const) {
      if (values_.every((v) => v === values_[0])) {
        io.err(
          `warning: ${positionals[0]}: column '${col}' is constant (all ${values_.length} values are ${values_[0]}): the correlations are undefined (NaN)`,
        );
      }
    }
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
