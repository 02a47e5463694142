// Metric A against metric B, one point per (run, epoch), coloured by run or by a parameter, with
// Pearson, Spearman and Kendall as the API computes them (fid-core); and several runs' curves of
// one metric overlaid. Everything chosen is in the URL.
import { useMemo } from 'preact/hooks';
import { api, type Correlation, type SweepDetail } from '../api';
import { Chart, loadEcharts, PALETTE, type ChartOption } from '../charts';
import { fmt, paramText } from '../format';
import { Status, useQuery, useRenderedMark } from '../hooks';
import { goalOf, mixedWarning, recipeKey } from '../recipes';
import { runUrl, setQuery } from '../route';

function Select(props: {
  label: string;
  value: string;
  options: string[];
  param: string;
  empty?: string;
}) {
  return (
    <label>
      {props.label}{' '}
      <select
        data-testid={props.param}
        value={props.value}
        onChange={(e) => setQuery({ [props.param]: (e.target as HTMLSelectElement).value })}
      >
        {props.empty !== undefined ? <option value="">{props.empty}</option> : null}
        {props.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

function scatterOption(c: Correlation, detail: SweepDetail, colour: string): ChartOption {
  const byId = new Map(detail.runs.map((r) => [r.id, r]));
  const param = colour.startsWith('param:') ? colour.slice(6) : null;
  const colourOf = (runId: number): unknown =>
    param === null
      ? byId.get(runId)?.key
      : ((byId.get(runId)?.parameters ?? {}) as Record<string, unknown>)[param];
  const values = c.points.map((p) => colourOf(p.runId));
  const numeric = param !== null && values.every((v) => typeof v === 'number');
  const categories = numeric ? [] : [...new Set(values.map((v) => paramText(v ?? '')))];
  const data = c.points.map((p, i) => [
    p.a,
    p.b,
    numeric ? (values[i] as number) : categories.indexOf(paramText(values[i] ?? '')),
    p.run,
    p.epoch,
  ]);
  const visualMap: ChartOption['visualMap'] = numeric
    ? {
        type: 'continuous',
        dimension: 2,
        min: Math.min(...(values as number[])),
        max: Math.max(...(values as number[])),
        text: [param!, ''],
        inRange: { color: ['#2f6fd0', '#c49a1b', '#d0562f'] },
        right: 0,
        top: 'middle',
        calculable: true,
      }
    : categories.length <= 20
      ? {
          type: 'piecewise',
          dimension: 2,
          categories: categories.map((_, i) => String(i)),
          pieces: categories.map((label, i) => ({
            value: i,
            label,
            color: PALETTE[i % PALETTE.length],
          })),
          right: 0,
          top: 'middle',
        }
      : {
          type: 'continuous',
          dimension: 2,
          min: 0,
          max: categories.length - 1,
          show: false,
          inRange: { color: PALETTE },
        };
  return {
    grid: { left: 70, right: 150, top: 20, bottom: 50 },
    tooltip: {
      trigger: 'item',
      formatter: (p: unknown) => {
        const d = (p as { data: unknown[] }).data;
        return `${d[3]} epoch ${d[4]}<br/>${c.a}=${fmt(d[0] as number)}<br/>${c.b}=${fmt(d[1] as number)}`;
      },
    },
    xAxis: { type: 'value', name: c.a, nameLocation: 'middle', nameGap: 28, scale: true },
    yAxis: { type: 'value', name: c.b, nameLocation: 'middle', nameGap: 50, scale: true },
    visualMap,
    series: [
      {
        name: 'points',
        type: 'scatter',
        symbolSize: 6,
        large: data.length > 20_000,
        progressive: 20_000,
        data,
      },
    ],
  };
}

async function loadCurves(runs: { id: number; key: string }[]) {
  return Promise.all(
    runs.map(async (r) => ({ ...r, epochs: await api.runs.epochs.query({ id: r.id }) })),
  );
}

export function ComparePage(props: { query: URLSearchParams }) {
  void loadEcharts();
  const sweeps = useQuery(() => api.sweeps.list.query(), []);
  const sweep = props.query.get('sweep') ?? sweeps.data?.[0]?.name ?? '';
  const detail = useQuery(
    () => (sweep ? api.sweeps.get.query({ name: sweep }) : Promise.resolve(null)),
    [sweep],
  );
  const runs = detail.data?.runs ?? [];
  const metrics = useMemo(
    () => [...new Set(runs.flatMap((r) => Object.keys(r.best)))].sort(),
    [runs],
  );
  const a = props.query.get('a') ?? metrics[0] ?? '';
  const b = props.query.get('b') ?? metrics.find((m) => m !== a) ?? '';
  const colour = props.query.get('color') ?? 'run';
  const metric = props.query.get('metric') ?? a;
  const spec = detail.data?.sweep.spec;
  const paramNames = [
    ...new Set(runs.flatMap((r) => Object.keys((r.parameters ?? {}) as Record<string, unknown>))),
  ].sort();

  const corr = useQuery(
    () =>
      sweep && a && b && a !== b
        ? api.metrics.correlate.query({ sweep, a, b })
        : Promise.resolve(null),
    [sweep, a, b],
    'compare',
  );

  // Overlaid runs: the URL's list, else the five best by the metric.
  const chosen = useMemo(() => {
    const listed = props.query.get('runs');
    if (listed) {
      const keys = listed.split(',');
      return runs.filter((r) => keys.includes(r.key));
    }
    const goal = goalOf(metric, spec);
    return runs
      .filter((r) => r.best[metric])
      .sort((x, y) =>
        goal === 'min'
          ? x.best[metric].min - y.best[metric].min
          : y.best[metric].max - x.best[metric].max,
      )
      .slice(0, 5);
  }, [runs, metric, props.query.get('runs')]);
  const curves = useQuery(
    () => loadCurves(chosen.map((r) => ({ id: r.id, key: r.key }))),
    [chosen.map((r) => r.id).join(',')],
  );

  const scatter = useMemo(
    () => (corr.data && detail.data ? scatterOption(corr.data, detail.data, colour) : null),
    [corr.data, detail.data, colour],
  );
  const scatterWarnings = corr.data
    ? [
        mixedWarning(
          `${corr.data.a} (x axis)`,
          corr.data.points.map((p) => `protocol ${p.protocolA}`),
        ),
        mixedWarning(
          `${corr.data.b} (y axis)`,
          corr.data.points.map((p) => `protocol ${p.protocolB}`),
        ),
      ].filter((w): w is string => w !== null)
    : [];
  const overlay = useMemo((): ChartOption | null => {
    if (!curves.data || curves.data.length === 0) return null;
    return {
      grid: { left: 60, right: 20, top: 40, bottom: 36 },
      legend: { top: 0, type: 'scroll' },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 24, minInterval: 1 },
      yAxis: { type: 'value', scale: true, name: metric },
      series: curves.data.map((c) => ({
        name: c.key,
        type: 'line',
        showSymbol: false,
        data: c.epochs
          .filter((e) => e.metrics[metric] !== undefined)
          .map((e) => [e.epoch, e.metrics[metric]]),
      })),
    };
  }, [curves.data, metric]);
  const overlayWarning = curves.data
    ? mixedWarning(
        `${metric} across these runs`,
        curves.data.flatMap((c) =>
          c.epochs.filter((e) => e.details[metric]).map((e) => recipeKey(e.details[metric])),
        ),
      )
    : null;
  useRenderedMark('compare', corr.data !== undefined, `${sweep}:${a}:${b}:${colour}`);

  const toggleRun = (key: string) => {
    const keys = new Set(chosen.map((r) => r.key));
    if (keys.has(key)) keys.delete(key);
    else keys.add(key);
    setQuery({ runs: [...keys].join(',') || null });
  };

  return (
    <>
      <h1>Compare</h1>
      <div class="filters">
        <Select
          label="sweep"
          value={sweep}
          options={(sweeps.data ?? []).map((s) => s.name)}
          param="sweep"
        />
      </div>
      <Status q={detail}>
        {metrics.length < 2 ? (
          <p class="muted">This sweep has fewer than two metrics to compare.</p>
        ) : (
          <>
            <h2>Metric against metric</h2>
            <div class="filters">
              <Select label="x: metric A" value={a} options={metrics} param="a" />
              <Select label="y: metric B" value={b} options={metrics} param="b" />
              <Select
                label="colour by"
                value={colour}
                options={['run', ...paramNames.map((p) => `param:${p}`)]}
                param="color"
              />
            </div>
            <Status q={corr}>
              {corr.data ? (
                <>
                  <p class="coefficients" data-testid="coefficients">
                    n = <b data-testid="n">{corr.data.n}</b> (run, epoch) points · Pearson{' '}
                    <b data-testid="pearson" data-value={String(corr.data.pearson)}>
                      {fmt(corr.data.pearson)}
                    </b>{' '}
                    · Spearman{' '}
                    <b data-testid="spearman" data-value={String(corr.data.spearman)}>
                      {fmt(corr.data.spearman)}
                    </b>{' '}
                    · Kendall τ-b{' '}
                    <b data-testid="kendall" data-value={String(corr.data.kendall)}>
                      {fmt(corr.data.kendall)}
                    </b>
                  </p>
                  {scatterWarnings.map((w) => (
                    <p class="warning" key={w}>
                      {w}
                    </p>
                  ))}
                  {scatter ? <Chart name="compare:scatter" option={scatter} height={420} /> : null}
                </>
              ) : null}
            </Status>
            <h2>Curves of one metric</h2>
            <div class="filters">
              <Select label="metric" value={metric} options={metrics} param="metric" />
            </div>
            {overlayWarning ? <p class="warning">{overlayWarning}</p> : null}
            {overlay ? <Chart name="compare:overlay" option={overlay} height={320} /> : null}
            <details class="run-picker">
              <summary>runs shown ({chosen.length})</summary>
              {runs.map((r) => (
                <label key={r.id}>
                  <input
                    type="checkbox"
                    checked={chosen.some((c) => c.id === r.id)}
                    onChange={() => toggleRun(r.key)}
                  />{' '}
                  <a href={runUrl(sweep, r.key)}>{r.key}</a>
                </label>
              ))}
            </details>
          </>
        )}
      </Status>
    </>
  );
}
