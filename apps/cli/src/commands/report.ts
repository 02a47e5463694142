import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { atomicWrite } from '@fidlab/base';
import { parse, UsageError, type Command } from '../command.js';
import { serverErrors } from './serve.js';
import { SOURCE_USAGE, sourceOptions, withRunsSource } from './runsSource.js';

export const reportCommand: Command = {
  name: 'report',
  summary:
    'the study report of one or more sweeps: curves with CIs and jumps, best-epoch agreement, metric correlations, CMC, layer separation',
  usage: `usage: fidlab report --sweep NAME [--sweep NAME2 ...] [--out report.html] [--format html|md]

  --sweep NAME    a sweep to report on (repeat for several: each gets its own section)
  --out FILE      where to write (default report.html, or report.md with --format md)
  --format F      html (default; one self-contained file, inline SVG plots, no network
                  references) or md (Markdown; the plots as SVG files and the numbers as
                  data.json in FILE-without-extension-files/ beside it); taken from --out's
                  extension when not given
${SOURCE_USAGE}

Per metric: the value by epoch for every run with its 95% CI band, jumps (steps larger than
the CI, or robust z > 3.5 without one) and the metric's recipe; the best epoch per run and
metric and how often metrics agree on it; every metric pair's scatter plot with Pearson,
Spearman and Kendall; CMC curves of rank-k metrics; and each metric's separation of the runs
(between-run over within-run variance, bootstrap CI included), ranked.`,
  async run(argv, io) {
    const { values } = parse(argv, {
      options: {
        sweep: { type: 'string', multiple: true },
        out: { type: 'string' },
        format: { type: 'string' },
        ...sourceOptions,
      },
    });
    const sweeps = values.sweep ?? [];
    if (sweeps.length === 0) throw new UsageError('--sweep NAME is required');
    let format = values.format;
    if (format === undefined) format = values.out && extname(values.out) === '.md' ? 'md' : 'html';
    if (format !== 'html' && format !== 'md')
      throw new UsageError(`--format must be html or md, got '${format}'`);
    const out = values.out ?? (format === 'md' ? 'report.md' : 'report.html');
    const { buildReport, loadSweeps, renderHtml, renderMarkdown } = await import('@fidlab/report');
    const data = await serverErrors(() =>
      withRunsSource(values, (src) =>
        loadSweeps(
          {
            getSweep: (name) => src.getSweep(name),
            listRuns: (name) => src.listRuns(name),
            runEpochs: (id) => src.runEpochs(id),
          },
          sweeps,
        ),
      ),
    );
    const report = buildReport(data);
    if (dirname(out) !== '.') await mkdir(dirname(out), { recursive: true });
    if (format === 'html') {
      await atomicWrite(out, renderHtml(report));
    } else {
      const filesDir = `${basename(out, extname(out))}-files`;
      const { markdown, files } = renderMarkdown(report, filesDir);
      await mkdir(join(dirname(out), filesDir), { recursive: true });
      for (const [name, text] of files) await atomicWrite(join(dirname(out), filesDir, name), text);
      await atomicWrite(out, markdown);
    }
    const count = (f: (s: (typeof report.sweeps)[number]) => number) =>
      report.sweeps.reduce((t, s) => t + f(s), 0);
    const jumps = count((s) => s.jumps.length);
    io.out(
      `wrote ${out}: ${sweeps.length} sweep${sweeps.length > 1 ? 's' : ''}, ${count((s) => s.runs.length)} runs, ${count((s) => s.metrics.length)} metrics, ${count((s) => s.pairs.length)} metric pairs, ${jumps} jump${jumps === 1 ? '' : 's'}`,
    );
    for (const s of report.sweeps) {
      const top = s.separation.find((x) => x.ratio !== null);
      const parts: string[] = [];
      if (top)
        parts.push(
          `best-separating metric ${top.metric} (S = ${Number(top.ratio!.toPrecision(4))})`,
        );
      if (s.agreement.pairs > 0)
        parts.push(
          `metrics agree on the best epoch in ${s.agreement.agreeingPairs}/${s.agreement.pairs} (run, metric pair)s`,
        );
      if (parts.length) io.out(`  ${s.name}: ${parts.join('; ')}`);
    }
    return 0;
  },
};
