// One run: a chart per metric by epoch (bootstrap CI band where recorded, best epoch marked,
// log scale in the URL), losses by epoch, and the sample images of a chosen epoch.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, runFileUrl, type EpochRow } from '../api';
import { Chart, loadEcharts, type ChartOption } from '../charts';
import { fmt, paramText, when } from '../format';
import { Status, useQuery, useRenderedMark } from '../hooks';
import { useProgress } from '../live';
import { Notes } from '../Notes';
import { goalOf, mixedWarning, recipeKey } from '../recipes';
import { setQuery, sweepUrl } from '../route';

async function loadRun(key: string, sweep: string | null) {
  const run = sweep
    ? await api.runs.get.query({ sweep, key })
    : (await api.runs.list.query({})).find((r) => r.key === key);
  if (!run) throw new Error(`no run with key ${key}${sweep ? ` in sweep ${sweep}` : ''}`);
  const [epochs, sweeps] = await Promise.all([
    api.runs.epochs.query({ id: run.id }),
    api.sweeps.list.query(),
  ]);
  const spec = sweeps.find((s) => s.name === run.sweep)?.spec ?? null;
  const metrics = [...new Set(epochs.flatMap((e) => Object.keys(e.metrics)))].sort();
  const best = await Promise.all(
    metrics.map((m) => api.runs.best.query({ metric: m, goal: goalOf(m, spec), run: run.id })),
  );
  return { run, epochs, spec, metrics, best: new Map(metrics.map((m, i) => [m, best[i]])) };
}

function metricOption(
  metric: string,
  epochs: EpochRow[],
  best: { epoch: number; value: number } | null,
  log: boolean,
): ChartOption {
  const pts = epochs.filter((e) => e.metrics[metric] !== undefined);
  const ci = pts.filter(
    (e) => e.details[metric]?.ciLow != null && e.details[metric]?.ciHigh != null,
  );
  const series: ChartOption['series'] = [];
  if (ci.length > 0) {
    // The band: an invisible lower line and the interval's width stacked on it.
    series.push(
      {
        name: 'ci-low',
        type: 'line',
        stack: 'ci',
        symbol: 'none',
        lineStyle: { opacity: 0 },
        tooltip: { show: false },
        data: ci.map((e) => [e.epoch, e.details[metric].ciLow as number]),
      },
      {
        name: '95% CI',
        type: 'line',
        stack: 'ci',
        symbol: 'none',
        lineStyle: { opacity: 0 },
        areaStyle: { color: 'rgba(47,111,208,0.18)' },
        tooltip: { show: false },
        data: ci.map((e) => [
          e.epoch,
          (e.details[metric].ciHigh as number) - (e.details[metric].ciLow as number),
        ]),
      },
    );
  }
  series.push({
    name: metric,
    type: 'line',
    color: '#2f6fd0',
    showSymbol: pts.length <= 60,
    symbolSize: 5,
    progressive: 5000,
    data: pts.map((e) => [e.epoch, e.metrics[metric]]),
    markPoint: best
      ? {
          symbol: 'pin',
          symbolSize: 38,
          itemStyle: { color: '#d0562f' },
          label: { formatter: String(best.epoch), fontSize: 10 },
          data: [{ name: 'best', coord: [best.epoch, best.value] }],
        }
      : undefined,
    markLine: best
      ? {
          symbol: 'none',
          silent: true,
          lineStyle: { color: '#d0562f', type: 'dashed' },
          label: { formatter: `best epoch ${best.epoch}`, position: 'insideEndTop' },
          data: [{ xAxis: best.epoch }],
        }
      : undefined,
  });
  return {
    grid: { left: 60, right: 20, top: 30, bottom: 36 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 24, minInterval: 1 },
    yAxis: { type: log ? 'log' : 'value', scale: true },
    series,
  };
}

function lossOption(epochs: EpochRow[], log: boolean): ChartOption | null {
  const names = [...new Set(epochs.flatMap((e) => Object.keys(e.losses)))].sort();
  if (names.length === 0) return null;
  return {
    grid: { left: 60, right: 20, top: 40, bottom: 36 },
    legend: { top: 0 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 24, minInterval: 1 },
    yAxis: { type: log ? 'log' : 'value', scale: true },
    series: names.map((n) => ({
      name: n,
      type: 'line',
      showSymbol: false,
      data: epochs.filter((e) => e.losses[n] !== undefined).map((e) => [e.epoch, e.losses[n]]),
    })),
  };
}

function Samples(props: { runId: number; epoch: number | null }) {
  const q = useQuery(
    () =>
      api.runs.samples.query({
        id: props.runId,
        ...(props.epoch !== null ? { epoch: props.epoch } : {}),
      }),
    [props.runId, props.epoch],
  );
  const [urls, setUrls] = useState<Record<string, string>>({});
  useEffect(() => {
    let live = true;
    const made: string[] = [];
    void Promise.all(
      (q.data?.files ?? []).map(async (f) => {
        const u = await runFileUrl(props.runId, f.path).catch(() => '');
        made.push(u);
        return [f.path, u] as const;
      }),
    ).then((pairs) => live && setUrls(Object.fromEntries(pairs)));
    return () => {
      live = false;
      made.forEach((u) => u && URL.revokeObjectURL(u));
    };
  }, [q.data]);
  if (!q.data) return <Status q={q} />;
  if (q.data.epochs.length === 0)
    return <p class="muted">No sample images recorded for this run.</p>;
  const indices = [...new Set(q.data.files.map((f) => f.index))].sort((a, b) => a - b);
  const cell = (index: number, kind: string) => {
    const f = q.data!.files.find((x) => x.index === index && x.kind === kind);
    return (
      <td>
        {f && urls[f.path] ? (
          <img src={urls[f.path]} alt={`${kind} ${index}`} />
        ) : (
          <span class="muted">–</span>
        )}
      </td>
    );
  };
  return (
    <>
      <label>
        epoch{' '}
        <select
          data-testid="sample-epoch"
          value={String(q.data.epoch ?? '')}
          onChange={(e) => setQuery({ epoch: (e.target as HTMLSelectElement).value })}
        >
          {q.data.epochs.map((e) => (
            <option key={e} value={String(e)}>
              {e}
            </option>
          ))}
        </select>
      </label>
      <table class="samples" data-testid="samples">
        <thead>
          <tr>
            <th>#</th>
            <th>input</th>
            <th>generated</th>
            <th>ground truth</th>
          </tr>
        </thead>
        <tbody>
          {indices.map((i) => (
            <tr key={i}>
              <td class="muted">{i}</td>
              {cell(i, 'input')}
              {cell(i, 'generated')}
              {cell(i, 'truth')}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function RunPage(props: { runKey: string; query: URLSearchParams }) {
  void loadEcharts();
  const sweep = props.query.get('sweep');
  const log = props.query.get('log') === '1';
  const epochParam = props.query.get('epoch');
  const q = useQuery(() => loadRun(props.runKey, sweep), [props.runKey, sweep], 'run');
  const data = q.data;
  const live = useProgress(data && data.run.status !== 'done' ? data.run.sweep : null);
  const lastEpoch = live?.runs.find((r) => r.id === data?.run.id)?.lastEpoch;
  useEffect(() => {
    if (data && lastEpoch !== undefined && lastEpoch !== (data.epochs.at(-1)?.epoch ?? null))
      q.reload();
  }, [lastEpoch]);

  const options = useMemo(() => {
    if (!data) return [];
    return data.metrics.map((m) => {
      const b = data.best.get(m) ?? null;
      return {
        metric: m,
        best: b,
        option: metricOption(m, data.epochs, b, log),
        warning: mixedWarning(
          m,
          data.epochs.filter((e) => e.details[m]).map((e) => recipeKey(e.details[m])),
        ),
      };
    });
  }, [data, log]);
  const losses = useMemo(() => (data ? lossOption(data.epochs, log) : null), [data, log]);
  useRenderedMark('run', data !== undefined, `${log}:${data?.epochs.length}`);

  return (
    <>
      <h1>
        <a href="/">Sweeps</a> /{' '}
        {data ? <a href={sweepUrl(data.run.sweep)}>{data.run.sweep}</a> : (sweep ?? '…')} /{' '}
        {props.runKey}{' '}
        {data ? <span class={`status ${data.run.status}`}>{data.run.status}</span> : null}
      </h1>
      <Status q={q}>
        {data ? (
          <>
            <p class="muted small">
              {Object.entries((data.run.parameters ?? {}) as Record<string, unknown>)
                .map(([k, v]) => `${k}=${paramText(v)}`)
                .join(' · ')}
              {' · '}started {when(data.run.startedAt)} · finished {when(data.run.finishedAt)}
              {data.run.workerId ? ` · worker ${data.run.workerId}` : ''}
            </p>
            {data.run.error ? <p class="error">{data.run.error}</p> : null}
            <Notes target={{ run: data.run.id }} />
            <div class="filters">
              <label>
                <input
                  type="checkbox"
                  data-testid="log"
                  checked={log}
                  onChange={(e) =>
                    setQuery({ log: (e.target as HTMLInputElement).checked ? '1' : null })
                  }
                />{' '}
                log scale
              </label>
              <span class="muted small">{data.epochs.length} epochs</span>
            </div>
            <h2>Metrics by epoch</h2>
            {options.length === 0 ? <p class="muted">No metric values yet.</p> : null}
            <div class="charts">
              {options.map((o) => (
                <figure key={o.metric} data-metric={o.metric}>
                  <figcaption>
                    <b>{o.metric}</b>{' '}
                    {o.best ? (
                      <span>
                        best ({o.best.goal}) epoch <b data-testid="best-epoch">{o.best.epoch}</b> ={' '}
                        {fmt(o.best.value)}
                      </span>
                    ) : null}
                  </figcaption>
                  {o.warning ? <p class="warning small">{o.warning}</p> : null}
                  <Chart name={`run:${o.metric}`} option={o.option} />
                </figure>
              ))}
            </div>
            <h2>Losses by epoch</h2>
            {losses ? (
              <Chart name="run:losses" option={losses} height={280} />
            ) : (
              <p class="muted">No losses recorded.</p>
            )}
            <h2>Samples</h2>
            <Samples runId={data.run.id} epoch={epochParam !== null ? Number(epochParam) : null} />
          </>
        ) : null}
      </Status>
    </>
  );
}
