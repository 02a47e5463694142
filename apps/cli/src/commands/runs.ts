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
                  lastEpoch, last: {metric: value}, best: {metric: {min, minEpoch, max, maxEpoch}})
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
    return 0;
  },
};
