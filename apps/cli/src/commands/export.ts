import { recipeId, recipeOf } from '@fidlab/features/recipe';
import type { EpochRow, RunSummary } from '@fidlab/store';
import { parse, UsageError, type Command } from '../command.js';
import { requireOutputFile, writeResult } from '../paths.js';
import { serverErrors } from './serve.js';
import { SOURCE_USAGE, sourceOptions, withRunsSource } from './runsSource.js';

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** metric name -> id of its value's recipe (empty for a value recorded without one). */
export function recipeIds(e: EpochRow): Record<string, string | null> {
  return Object.fromEntries(
    Object.entries(e.details).map(([name, d]) => [name, recipeId(recipeOf(d.extra))]),
  );
}

/**
 * One line per (run, epoch): parameters, losses, checkpoint and every metric as columns, then
 * each metric's evaluation protocol (`protocol.<metric>`, 1 for values recorded without one),
 * then the id of each value's recipe (`recipe.<metric>`: values are comparable exactly when
 * their ids are equal; empty for a value recorded without one).
 */
export function toCsv(sweep: string, data: { run: RunSummary; epochs: EpochRow[] }[]): string[] {
  const params = new Set<string>();
  const losses = new Set<string>();
  const metrics = new Set<string>();
  for (const { run, epochs } of data) {
    if (run.parameters && typeof run.parameters === 'object' && !Array.isArray(run.parameters)) {
      for (const k of Object.keys(run.parameters)) params.add(k);
    }
    for (const e of epochs) {
      for (const k of Object.keys(e.losses)) losses.add(k);
      for (const k of Object.keys(e.metrics)) metrics.add(k);
    }
  }
  const P = [...params].sort();
  const L = [...losses].sort();
  const M = [...metrics].sort();
  const header = [
    'sweep',
    'run',
    'run_id',
    'status',
    ...P.map((p) => `param.${p}`),
    'epoch',
    ...L.map((l) => `loss.${l}`),
    'seconds',
    'checkpoint',
    'checkpoint_sha256',
    ...M,
    ...M.map((m) => `protocol.${m}`),
    ...M.map((m) => `recipe.${m}`),
  ];
  const lines = [header.map(csvField).join(',')];
  for (const { run, epochs } of data) {
    const p = (run.parameters ?? {}) as Record<string, unknown>;
    for (const e of epochs) {
      const recipes = recipeIds(e);
      lines.push(
        [
          sweep,
          run.key,
          run.id,
          run.status,
          ...P.map((k) => p[k]),
          e.epoch,
          ...L.map((k) => e.losses[k]),
          e.seconds,
          e.checkpoint?.uri,
          e.checkpoint?.sha256,
          ...M.map((k) => e.metrics[k]),
          ...M.map((k) => e.protocols[k]),
          ...M.map((k) => recipes[k]),
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return lines;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'every epoch of a sweep (parameters, losses, checkpoint, metrics) as CSV or JSON lines',
  usage: `usage: fidlab export --sweep NAME --format csv|jsonl [--out FILE]

  --sweep NAME      the sweep
  --format F        csv: one row per run and epoch, a column per parameter, loss and metric,
                    then protocol.<metric>: the evaluation protocol of each value, then
                    recipe.<metric>: the id of each value's recipe (equal ids: comparable);
                    jsonl: one JSON object per run and epoch (with CI bounds, extractors and
                    recipes in details, protocols: {metric: evaluation protocol} and
                    recipes: {metric: recipe id})
  --out FILE        write there instead of stdout
${SOURCE_USAGE}`,
  async run(argv, io) {
    const { values } = parse(argv, {
      options: {
        sweep: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string' },
        ...sourceOptions,
      },
    });
    if (!values.sweep) throw new UsageError('--sweep NAME is required');
    const format = values.format;
    if (format !== 'csv' && format !== 'jsonl') {
      throw new UsageError(`--format must be csv or jsonl, got '${format ?? ''}'`);
    }
    const sweep = values.sweep;
    if (values.out !== undefined)
      requireOutputFile(values.out, '--out', `${values.sweep}.${format}`);
    const data = await serverErrors(() =>
      withRunsSource(values, async (src) => {
        const runs = await src.listRuns(sweep);
        const out: { run: RunSummary; epochs: EpochRow[] }[] = [];
        for (const run of runs) out.push({ run, epochs: await src.runEpochs(run.id) });
        return out;
      }),
    );
    const lines =
      format === 'csv'
        ? toCsv(sweep, data)
        : data.flatMap(({ run, epochs }) =>
            epochs.map((e) =>
              JSON.stringify({
                sweep,
                run: run.key,
                runId: run.id,
                status: run.status,
                parameters: run.parameters,
                epoch: e.epoch,
                losses: e.losses,
                seconds: e.seconds,
                checkpoint: e.checkpoint,
                metrics: e.metrics,
                details: e.details,
                protocols: e.protocols,
                recipes: recipeIds(e),
              }),
            ),
          );
    if (values.out) {
      await writeResult(values.out, lines.map((l) => l + '\n').join(''));
      io.err(`fidlab export: ${lines.length} lines -> ${values.out}`);
    } else {
      for (const l of lines) io.out(l);
    }
    return 0;
  },
};
