// Reads sweeps through a ReportSource and computes every table of the report (no rendering).
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  allPairs,
  bestEpochAgreement,
  cmcFamilies,
  detectJumps,
  rankSeparation,
  runLabels,
  series,
  sweepMetrics,
  trialOf,
  type Agreement,
  type CmcFamily,
  type Jump,
  type MetricInfo,
  type PairCorrelation,
  type Separation,
  type SeriesPoint,
} from './analysis.js';
import { colorOf } from './charts.js';
import type { ReportSource, SweepData } from './types.js';

export interface RunView {
  id: number;
  key: string;
  label: string;
  color: string;
  status: string;
  parameters: unknown;
  epochs: number;
}

export interface SweepReport {
  name: string;
  trial: 'pix2pix' | 'identity';
  /** The sweep's own selection (`select: { metric, goal }`), when its file says. */
  select: { metric: string; goal: string } | null;
  runs: RunView[];
  metrics: MetricInfo[];
  /** metric -> run id -> its values by epoch. */
  values: Record<string, Record<number, SeriesPoint[]>>;
  jumps: Jump[];
  agreement: Agreement;
  pairs: PairCorrelation[];
  cmc: CmcFamily[];
  separation: Separation[];
}

export interface Report {
  sweeps: SweepReport[];
  generatedAt: string;
}

/** Reads the named sweeps (every run and epoch) through the source. Unknown sweeps are an error. */
export async function loadSweeps(source: ReportSource, names: string[]): Promise<SweepData[]> {
  const out: SweepData[] = [];
  for (const name of names) {
    const sweep = await source.getSweep(name);
    if (!sweep) throw new FidlabError(ErrorCode.NOT_FOUND, `no sweep named '${name}' in the store`);
    const runs = await source.listRuns(name);
    const withEpochs = [];
    for (const r of [...runs].sort((a, b) => a.id - b.id)) {
      withEpochs.push({
        id: r.id,
        key: r.key,
        parameters: r.parameters,
        status: r.status,
        epochs: await source.runEpochs(r.id),
      });
    }
    out.push({ name: sweep.name, spec: sweep.spec, runs: withEpochs });
  }
  return out;
}

function selectOf(spec: unknown): SweepReport['select'] {
  const s = (spec as { select?: { metric?: unknown; goal?: unknown } } | null)?.select;
  return s && typeof s.metric === 'string'
    ? { metric: s.metric, goal: typeof s.goal === 'string' ? s.goal : 'min' }
    : null;
}

/** Every table and series of the report, for one or more sweeps. */
export function buildReport(sweeps: SweepData[], now = new Date()): Report {
  return {
    generatedAt: now.toISOString(),
    sweeps: sweeps.map((sweep) => {
      const metrics = sweepMetrics(sweep);
      const labels = runLabels(sweep.runs);
      const runs: RunView[] = sweep.runs.map((r, i) => ({
        id: r.id,
        key: r.key,
        label: labels.get(r.id) ?? r.key,
        color: colorOf(i),
        status: r.status,
        parameters: r.parameters,
        epochs: r.epochs.length,
      }));
      const values: SweepReport['values'] = {};
      for (const m of metrics) {
        values[m.name] = {};
        for (const r of sweep.runs) values[m.name][r.id] = series(r, m.name);
      }
      return {
        name: sweep.name,
        trial: trialOf(sweep.spec),
        select: selectOf(sweep.spec),
        runs,
        metrics,
        values,
        jumps: metrics.flatMap((m) => detectJumps(sweep, m.name)),
        agreement: bestEpochAgreement(sweep, metrics),
        pairs: allPairs(sweep, metrics),
        cmc: cmcFamilies(sweep, metrics),
        separation: rankSeparation(sweep, metrics),
      };
    }),
  };
}
