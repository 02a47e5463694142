// The report's plots: Apache ECharts option objects rendered to SVG strings by ECharts'
// server-side renderer (no browser, no DOM), the library the dashboard draws with in the browser.
import * as echarts from 'echarts';
import type { EChartsOption } from 'echarts';
import type {
  CmcFamily,
  Jump,
  MetricInfo,
  PairCorrelation,
  Separation,
  SeriesPoint,
} from './analysis.js';

/** ECharts' default palette, so that run i has one colour in every plot. */
export const PALETTE = [
  '#5470c6',
  '#91cc75',
  '#fac858',
  '#ee6666',
  '#73c0de',
  '#3ba272',
  '#fc8452',
  '#9a60b4',
  '#ea7ccc',
];
export const colorOf = (i: number) => PALETTE[i % PALETTE.length];
const JUMP_COLOR = '#d62728';
const FONT = { fontFamily: 'sans-serif' };

/** One chart as an SVG string (animation off: the SSR output is the final frame). */
export function renderSvg(option: EChartsOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, textStyle: FONT, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

function fmtAxis(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

export interface RunSeries {
  label: string;
  color: string;
  points: SeriesPoint[];
}

/**
 * A metric by epoch: one line per run, its 95% CI as a band (a transparent lower line and the
 * band's height stacked on it), and the detected jumps as red triangles at the epoch they land on.
 */
export function metricChart(
  metric: MetricInfo,
  runs: RunSeries[],
  jumps: (Jump & { label: string })[],
): string {
  const series: NonNullable<EChartsOption['series']> = [];
  runs.forEach((r, i) => {
    const withCi = r.points.filter((p) => p.ciLow !== null && p.ciHigh !== null);
    if (withCi.length > 0) {
      series.push({
        type: 'line',
        name: `${r.label} ci-low`,
        stack: `ci-${i}`,
        data: withCi.map((p) => [p.epoch, p.ciLow!]),
        lineStyle: { opacity: 0 },
        symbol: 'none',
        silent: true,
      });
      series.push({
        type: 'line',
        name: `${r.label} ci`,
        stack: `ci-${i}`,
        data: withCi.map((p) => [p.epoch, p.ciHigh! - p.ciLow!]),
        lineStyle: { opacity: 0 },
        areaStyle: { color: r.color, opacity: 0.18 },
        symbol: 'none',
        silent: true,
      });
    }
    series.push({
      type: 'line',
      name: r.label,
      data: r.points.map((p) => [p.epoch, p.value]),
      color: r.color,
      symbol: 'circle',
      symbolSize: r.points.length > 60 ? 0 : 5,
      lineStyle: { width: 1.5 },
    });
  });
  if (jumps.length > 0)
    series.push({
      type: 'scatter',
      name: 'jump',
      data: jumps.map((j) => [j.to, j.after]),
      symbol: 'triangle',
      symbolSize: 11,
      color: JUMP_COLOR,
      z: 10,
    });
  const names = [...runs.map((r) => r.label), ...(jumps.length ? ['jump'] : [])];
  const legendRows = Math.ceil(names.length / 4);
  return renderSvg(
    {
      title: {
        text: `${metric.name} by epoch (${metric.goal === 'min' ? 'lower' : 'higher'} is better)`,
        left: 'center',
        textStyle: { fontSize: 14, ...FONT },
      },
      legend: { data: names, bottom: 0, textStyle: { fontSize: 11 } },
      grid: { left: 70, right: 24, top: 40, bottom: 50 + 18 * legendRows },
      xAxis: {
        type: 'value',
        name: 'epoch',
        nameLocation: 'middle',
        nameGap: 24,
        minInterval: 1,
        scale: true,
      },
      yAxis: { type: 'value', scale: true, axisLabel: { formatter: fmtAxis } },
      series,
    },
    760,
    320 + 18 * legendRows,
  );
}

/**
 * The scatter matrix over (run, epoch) points: below the diagonal metric j (x) against metric i
 * (y), coloured by run; on the diagonal the metric's name; above it Pearson r, Spearman rho and
 * Kendall tau of the pair, the cell tinted by rho (blue positive, red negative).
 */
export function scatterMatrix(
  metrics: string[],
  pairs: PairCorrelation[],
  runColor: Map<number, string>,
): string {
  const m = metrics.length;
  const cell = Math.max(64, Math.min(150, Math.floor(960 / m)));
  const pad = 6;
  const left = 20;
  const top = 20;
  const size = left + m * cell + 20;
  const byPair = new Map(pairs.map((p) => [`${p.a}\u0000${p.b}`, p]));
  const pairOf = (i: number, j: number) =>
    byPair.get(`${metrics[i]}\u0000${metrics[j]}`) ??
    byPair.get(`${metrics[j]}\u0000${metrics[i]}`);
  const grid: object[] = [];
  const xAxis: object[] = [];
  const yAxis: object[] = [];
  const series: object[] = [];
  const graphic: object[] = [];
  const fs = Math.max(9, Math.min(12, Math.floor(cell / 9)));
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) {
      const x0 = left + j * cell;
      const y0 = top + i * cell;
      graphic.push({
        type: 'rect',
        shape: { x: x0, y: y0, width: cell, height: cell },
        style: {
          fill: i === j ? '#f3f3f3' : i < j ? tint(pairOf(i, j)?.spearman) : 'none',
          stroke: '#ccc',
        },
        silent: true,
      });
      if (i === j) {
        graphic.push({
          type: 'text',
          x: x0 + cell / 2,
          y: y0 + cell / 2,
          style: {
            text: breakName(metrics[i], Math.floor(cell / (fs * 0.6))),
            fontSize: fs,
            fontWeight: 'bold',
            align: 'center',
            verticalAlign: 'middle',
            ...FONT,
          },
          silent: true,
        });
        continue;
      }
      const p = pairOf(i, j);
      if (i < j) {
        const f = (v: number | null | undefined) =>
          v === null || v === undefined ? 'n/a' : v.toFixed(2);
        graphic.push({
          type: 'text',
          x: x0 + cell / 2,
          y: y0 + cell / 2,
          style: {
            text: p ? `r ${f(p.pearson)}\nρ ${f(p.spearman)}\nτ ${f(p.kendall)}\nn ${p.n}` : 'n/a',
            fontSize: fs,
            align: 'center',
            verticalAlign: 'middle',
            lineHeight: fs + 3,
            fill: '#333',
            ...FONT,
          },
          silent: true,
        });
        continue;
      }
      // Below the diagonal: x = metric j, y = metric i.
      const g = grid.length;
      grid.push({ left: x0 + pad, top: y0 + pad, width: cell - 2 * pad, height: cell - 2 * pad });
      const hidden = { show: false };
      xAxis.push({
        gridIndex: g,
        type: 'value',
        scale: true,
        axisLabel: hidden,
        axisTick: hidden,
        splitLine: hidden,
        axisLine: hidden,
      });
      yAxis.push({
        gridIndex: g,
        type: 'value',
        scale: true,
        axisLabel: hidden,
        axisTick: hidden,
        splitLine: hidden,
        axisLine: hidden,
      });
      const swapped = p !== undefined && p.a === metrics[i];
      series.push({
        type: 'scatter',
        xAxisIndex: g,
        yAxisIndex: g,
        symbolSize: m > 10 ? 3 : 4,
        data: (p?.points ?? []).map((q) => ({
          value: swapped ? [q.b, q.a] : [q.a, q.b],
          itemStyle: { color: runColor.get(q.runId) ?? '#999', opacity: 0.8 },
        })),
      });
    }
  return renderSvg({ grid, xAxis, yAxis, series, graphic } as EChartsOption, size, size);
}

/** Background of a coefficient cell: blue for positive, red for negative Spearman, by |rho|. */
function tint(rho: number | null | undefined): string {
  if (rho === null || rho === undefined) return 'none';
  const a = (0.35 * Math.abs(rho)).toFixed(3);
  return rho >= 0 ? `rgba(84,112,198,${a})` : `rgba(238,102,102,${a})`;
}

function breakName(name: string, width: number): string {
  if (name.length <= width) return name;
  const parts = name.split(/(?<=[_@:])/);
  const lines: string[] = [];
  let line = '';
  for (const p of parts) {
    if (line && (line + p).length > width) {
      lines.push(line);
      line = '';
    }
    line += p;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/** CMC curves of one identity-metric family: accuracy against rank k, one line per run. */
export function cmcChart(
  family: CmcFamily,
  labelOf: (runId: number) => string,
  colorOfRun: (runId: number) => string,
): string {
  const series = family.curves.map((c) => ({
    type: 'line' as const,
    name: `${labelOf(c.runId)} (epoch ${c.epoch})`,
    data: c.points.map((p) => [p.k, p.value]),
    color: colorOfRun(c.runId),
    symbol: 'circle',
    symbolSize: c.full && c.points.length > 20 ? 0 : 6,
  }));
  const rows = Math.ceil(series.length / 3);
  return renderSvg(
    {
      title: {
        text: `CMC: ${family.family} (rank-k accuracy at each run's best epoch)`,
        left: 'center',
        textStyle: { fontSize: 14, ...FONT },
      },
      legend: { bottom: 0, textStyle: { fontSize: 11 } },
      grid: { left: 60, right: 24, top: 40, bottom: 50 + 18 * rows },
      xAxis: {
        type: 'value',
        name: 'rank k',
        nameLocation: 'middle',
        nameGap: 24,
        min: 1,
        minInterval: 1,
      },
      yAxis: {
        type: 'value',
        min: 0,
        max: 1,
        name: 'accuracy',
        nameLocation: 'middle',
        nameGap: 40,
      },
      series,
    },
    760,
    300 + 18 * rows,
  );
}

/** Separation ratio S per metric as horizontal bars, best at the top (log axis when it spans decades). */
export function separationChart(rows: Separation[]): string {
  const finite = rows.filter((r) => r.ratio !== null && Number.isFinite(r.ratio) && r.ratio > 0);
  const shown = [...finite].reverse(); // ECharts draws the first category at the bottom
  const values = finite.map((r) => r.ratio!);
  const log = values.length > 1 && Math.max(...values) / Math.min(...values) > 100;
  return renderSvg(
    {
      title: {
        text: 'Separation S = between-run / within-run variance (higher separates better)',
        left: 'center',
        textStyle: { fontSize: 14, ...FONT },
      },
      grid: { left: 170, right: 60, top: 40, bottom: 40 },
      xAxis: {
        type: log ? 'log' : 'value',
        name: 'S',
        nameLocation: 'middle',
        nameGap: 24,
        axisLabel: { formatter: fmtAxis },
      },
      yAxis: { type: 'category', data: shown.map((r) => r.metric), axisLabel: { fontSize: 11 } },
      series: [
        {
          type: 'bar',
          data: shown.map((r) => r.ratio!),
          color: '#5470c6',
          label: {
            show: true,
            position: 'right',
            formatter: (p: { value: unknown }) => fmtAxis(Number(p.value)),
            fontSize: 10,
          },
        },
      ],
    } as EChartsOption,
    760,
    90 + 26 * Math.max(1, shown.length),
  );
}
