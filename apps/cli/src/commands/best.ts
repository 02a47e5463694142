import { ErrorCode, FidlabError } from '@fidlab/base';
import { recipeId } from '@fidlab/features/recipe';
import { parse, UsageError, type Command } from '../command.js';
import { fmt } from '../format.js';
import { serverErrors } from './serve.js';
import { SOURCE_USAGE, sourceOptions, withRunsSource } from './runsSource.js';

export const bestCommand: Command = {
  name: 'best',
  summary: 'the best epoch of a sweep by a metric, its checkpoint and every metric at that epoch',
  usage: `usage: fidlab best --sweep NAME --metric M [--goal min|max] [--json]

  --sweep NAME    the sweep
  --metric M      the metric to select on (e.g. fid_inception)
  --goal G        min (default) or max
  --json          print {"run", "epoch", "value", "checkpoint", "metrics": {...},
                  "protocol", "protocols": {...}, "recipe", "comparable"} (the evaluation
                  protocol of the value and of each metric, 1 for values recorded without
                  one; the id of the value's recipe, null without one; whether every value
                  of the metric in the sweep has that recipe)
${SOURCE_USAGE}`,
  async run(argv, io) {
    const { values } = parse(argv, {
      options: {
        sweep: { type: 'string' },
        metric: { type: 'string' },
        goal: { type: 'string', default: 'min' },
        json: { type: 'boolean', default: false },
        ...sourceOptions,
      },
    });
    if (!values.sweep) throw new UsageError('--sweep NAME is required');
    if (!values.metric) throw new UsageError('--metric M is required');
    const goal = values.goal;
    if (goal !== 'min' && goal !== 'max')
      throw new UsageError(`--goal must be min or max, got '${goal}'`);
    const best = await serverErrors(() =>
      withRunsSource(values, (src) =>
        src.best({ sweep: values.sweep, metric: values.metric!, goal }),
      ),
    );
    if (!best) {
      throw new FidlabError(
        ErrorCode.NOT_FOUND,
        `no values of metric ${values.metric} recorded in sweep ${values.sweep}`,
      );
    }
    if (values.json) {
      io.out(
        JSON.stringify({
          run: best.run,
          epoch: best.epoch,
          value: best.value,
          checkpoint: best.checkpoint,
          metrics: best.metrics,
          protocol: best.protocol,
          protocols: best.protocols,
          recipe: recipeId(best.recipe),
          comparable: best.comparable,
        }),
      );
      return 0;
    }
    io.out(`sweep ${best.sweep}: best ${best.metric} (${goal}) = ${fmt(best.value)}`);
    io.out(`  run         ${best.run}  ${JSON.stringify(best.parameters)}`);
    io.out(`  epoch       ${best.epoch}`);
    io.out(`  checkpoint  ${best.checkpoint ?? '(none recorded)'}`);
    const width = Math.max(...Object.keys(best.metrics).map((k) => k.length));
    for (const [k, v] of Object.entries(best.metrics)) io.out(`  ${k.padEnd(width)}  ${fmt(v)}`);
    io.out(protocolLine(best.protocols, best.protocol));
    io.out(recipeLine(best.recipe, best.comparable, best.metric));
    return 0;
  },
};

/**
 * `evaluation protocol 2`, or each metric's when the values at that epoch differ
 * (`evaluation protocols: fid 2, kid 1`): values of different protocols are not comparable.
 */
export function protocolLine(protocols: Record<string, number>, protocol: number): string {
  const distinct = new Set(Object.values(protocols));
  if (distinct.size <= 1) return `evaluation protocol ${protocol}`;
  return `evaluation protocols: ${Object.entries(protocols)
    .map(([k, p]) => `${k} ${p}`)
    .join(', ')}`;
}

/**
 * `recipe 3f2a9c01b7de (every fid value of the sweep has it)`, or why the best may compare values
 * that are not comparable: the values of the metric have different recipes, or none.
 */
export function recipeLine(recipe: unknown, comparable: boolean, metric: string): string {
  const id = recipeId(recipe);
  if (id === null)
    return `recipe (none recorded: values of ${metric} made before recipes were recorded are not comparable)`;
  return comparable
    ? `recipe ${id} (every ${metric} value of the sweep has it)`
    : `recipe ${id} (not comparable: the sweep's ${metric} values have other recipes too)`;
}
