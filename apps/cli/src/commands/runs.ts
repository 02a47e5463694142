import type { RunSummary } from '@fidlab/store';
import { parse, UsageError, type Command } from '../command.js';
import { fmt } from '../format.js';
import { serverErrors } from './serve.js';
import { SOURCE_USAGE, sourceOptions, withRunsSource } from './runsSource.js';

export const runsCommand: Command = {
  name: 'runs',
  summary: 'the runs of a sweep: status, last epoch and latest value of each metric',
  usage: `usage: fidlab runs --sweep NAME [--json]

  --sweep NAME    the sweep
  --json          print the runs as a JSON array (id, key, parameters, status, attempt,
                  lastEpoch, last: {metric: value}, best: {metric: {min, minEpoch, max, maxEpoch}},
                  protocols: {metric: [evaluation protocols of its values]},
                  lastProtocol: {metric: protocol of its latest value})

When the sweep's values were computed under more than one evaluation protocol (values recorded
without one are protocol 1), the table is followed by each run's protocols: values of different
protocols are not comparable (running the sweep again evaluates outdated epochs again).
${SOURCE_USAGE}`,
  async run(argv, io) {
    const { values } = parse(argv, {
      options: {
        sweep: { type: 'string' },
        json: { type: 'boolean', default: false },
        ...sourceOptions,
      },
    });
    if (!values.sweep) throw new UsageError('--sweep NAME is required');
    const runs = await serverErrors(() =>
      withRunsSource(values, (src) => src.listRuns(values.sweep!)),
    );
    if (values.json) {
      io.out(JSON.stringify(runs));
      return 0;
    }
    const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.last)))].sort();
    const rows = [
      ['run', 'status', 'attempt', 'epoch', ...metrics],
      ...runs.map((r) => [
        r.key,
        r.status,
        String(r.attempt),
        r.lastEpoch === null ? '-' : String(r.lastEpoch),
        ...metrics.map((m) => (r.last[m] === undefined ? '-' : fmt(r.last[m]))),
      ]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows)
      io.out(
        row
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      );
    if (runs.length === 0) io.out(`(sweep ${values.sweep} has no runs yet)`);
    for (const line of protocolNotes(runs)) io.out(line);
    return 0;
  },
};

/**
 * Nothing when every value of the sweep is of one evaluation protocol; else a heading and one line
 * per run with its protocols (`unet-s1  protocols 1, 2 (mixed: fid_inception, kid_inception)`).
 */
export function protocolNotes(runs: Pick<RunSummary, 'key' | 'protocols'>[]): string[] {
  const all = new Set(runs.flatMap((r) => Object.values(r.protocols).flat()));
  if (all.size <= 1) return [];
  const width = Math.max(...runs.map((r) => r.key.length));
  return [
    `evaluation protocols differ (values of different protocols are not comparable):`,
    ...runs.map((r) => {
      const mine = [...new Set(Object.values(r.protocols).flat())].sort((a, b) => a - b);
      const mixed = Object.keys(r.protocols)
        .filter((m) => r.protocols[m].length > 1)
        .sort();
      const list = mine.length === 0 ? '-' : mine.join(', ');
      return (
        `  ${r.key.padEnd(width)}  protocol${mine.length > 1 ? 's' : ''} ${list}` +
        (mixed.length ? ` (mixed: ${mixed.join(', ')})` : '')
      );
    }),
  ];
}
