// One sweep: its runs with parameters, status and each metric's best value and epoch; sortable
// and filterable (state in the URL); the selected metric's best run and epoch highlighted.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, type RunListRow } from '../api';
import { fmt, paramText, when } from '../format';
import { Status, useQuery, useRenderedMark } from '../hooks';
import { useProgress } from '../live';
import { Notes } from '../Notes';
import { goalOf } from '../recipes';
import { runUrl, setQuery } from '../route';

type Row = RunListRow;

/** Table rows are this tall (CSS: table.runs tbody tr); only the rows in view are drawn. */
const ROW_PX = 27;
const OVERSCAN = 30;

function bestOf(r: Row, metric: string, goal: 'min' | 'max') {
  const b = r.best[metric];
  if (!b) return null;
  return goal === 'min' ? { value: b.min, epoch: b.minEpoch } : { value: b.max, epoch: b.maxEpoch };
}

function params(r: Row): Record<string, unknown> {
  const p = r.parameters;
  return p !== null && typeof p === 'object' && !Array.isArray(p) ? p : {};
}

export function SweepPage(props: { name: string; query: URLSearchParams }) {
  const q = useQuery(() => api.sweeps.get.query({ name: props.name }), [props.name], 'sweep');
  const live = useProgress(props.name);
  // Reload the table when the live state moves (a run finished an epoch or changed status).
  const liveKey = live ? live.runs.map((r) => `${r.status}:${r.lastEpoch}`).join(',') : '';
  const first = useRef(true);
  useEffect(() => {
    if (first.current || !liveKey) {
      first.current = !liveKey;
      return;
    }
    const t = setTimeout(() => q.reload(), 300);
    return () => clearTimeout(t);
  }, [liveKey]);

  const data = q.data;
  const runs = data?.runs ?? [];
  const metrics = useMemo(
    () => [...new Set(runs.flatMap((r) => Object.keys(r.best)))].sort(),
    [runs],
  );
  const spec = data?.sweep.spec;
  const specSelect = (spec as { select?: { metric?: string } } | undefined)?.select?.metric;
  const metric =
    props.query.get('metric') ??
    (specSelect && metrics.includes(specSelect) ? specSelect : (metrics[0] ?? ''));
  const goal = (props.query.get('goal') as 'min' | 'max' | null) ?? goalOf(metric, spec);
  const sort = props.query.get('sort') ?? (metric ? `m:${metric}` : 'key');
  const dir =
    props.query.get('dir') ??
    (sort.startsWith('m:') && goalOf(sort.slice(2), spec) === 'max' ? 'desc' : 'asc');
  const filter = (props.query.get('q') ?? '').toLowerCase();
  const statusFilter = props.query.get('status') ?? '';

  const paramNames = useMemo(() => {
    const names = [...new Set(runs.flatMap((r) => Object.keys(params(r))))].sort();
    const varying = names.filter((n) => new Set(runs.map((r) => paramText(params(r)[n]))).size > 1);
    return varying.length ? varying : names;
  }, [runs]);

  const best = useMemo(() => {
    let top: { run: Row; value: number; epoch: number } | null = null;
    for (const r of runs) {
      const b = bestOf(r, metric, goal);
      if (!b) continue;
      if (!top || (goal === 'min' ? b.value < top.value : b.value > top.value))
        top = { run: r, ...b };
    }
    return top;
  }, [runs, metric, goal]);

  const protocols = new Set(runs.flatMap((r) => r.protocols[metric] ?? []));

  const shown = useMemo(() => {
    const rows = runs.filter((r) => {
      if (statusFilter && r.status !== statusFilter) return false;
      if (!filter) return true;
      const text = `${r.key} ${r.status} ${JSON.stringify(r.parameters)} ${r.tags.join(' ')}`;
      return text.toLowerCase().includes(filter);
    });
    const val = (r: Row): number | string | null => {
      if (sort === 'key') return r.key;
      if (sort === 'status') return r.status;
      if (sort === 'epoch') return r.lastEpoch;
      if (sort.startsWith('p:')) {
        const v = params(r)[sort.slice(2)];
        return typeof v === 'number' ? v : v === undefined ? null : paramText(v);
      }
      if (sort.startsWith('m:')) {
        const m = sort.slice(2);
        return bestOf(r, m, goalOf(m, spec))?.value ?? null;
      }
      return null;
    };
    const sign = dir === 'desc' ? -1 : 1;
    return rows
      .map((r) => ({ r, v: val(r) }))
      .sort((a, b) => {
        if (a.v === null) return b.v === null ? 0 : 1; // missing values last either way
        if (b.v === null) return -1;
        return (a.v < b.v ? -1 : a.v > b.v ? 1 : 0) * sign || a.r.id - b.r.id;
      })
      .map((x) => x.r);
  }, [runs, sort, dir, filter, statusFilter]);

  const [view, setView] = useState({ top: 0, height: 900 });
  const wrap = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (wrap.current) setView({ top: wrap.current.scrollTop, height: wrap.current.clientHeight });
  }, [data !== undefined]);
  const first_ = Math.max(0, Math.floor(view.top / ROW_PX) - OVERSCAN);
  const last_ = Math.min(shown.length, Math.ceil((view.top + view.height) / ROW_PX) + OVERSCAN);
  const colCount = 3 + paramNames.length + metrics.length;

  useRenderedMark('sweep', data !== undefined, `${shown.length}:${sort}:${dir}`);

  const header = (label: string, key: string, cls = '') => (
    <th
      class={`sortable ${cls} ${sort === key ? 'sorted ' + dir : ''}`}
      data-sort={key}
      onClick={() =>
        setQuery({ sort: key, dir: sort === key ? (dir === 'asc' ? 'desc' : 'asc') : 'asc' })
      }
    >
      {label}
      {sort === key ? (dir === 'asc' ? ' ▲' : ' ▼') : ''}
    </th>
  );

  const statusNow = (r: Row) => live?.runs.find((x) => x.id === r.id)?.status ?? r.status;

  return (
    <>
      <h1>
        <a href="/">Sweeps</a> / {props.name}{' '}
        {data ? (
          <span class={`status ${live?.status ?? data.sweep.status}`}>
            {live?.status ?? data.sweep.status}
          </span>
        ) : null}
      </h1>
      <Status q={q}>
        {data ? (
          <>
            <p class="muted small">
              owner {data.sweep.owner ?? '–'} · created {when(data.sweep.createdAt)} · {runs.length}{' '}
              runs ·{' '}
              <a
                href={`/compare?sweep=${encodeURIComponent(props.name)}${metric ? `&a=${encodeURIComponent(metric)}&metric=${encodeURIComponent(metric)}` : ''}`}
              >
                compare metrics
              </a>
            </p>
            <Notes target={{ sweep: props.name }} />
            <div class="filters">
              <label>
                metric{' '}
                <select
                  data-testid="metric"
                  value={metric}
                  onChange={(e) =>
                    setQuery({ metric: (e.target as HTMLSelectElement).value, goal: null })
                  }
                >
                  {metrics.map((m) => (
                    <option key={m}>{m}</option>
                  ))}
                </select>
              </label>
              <label>
                goal{' '}
                <select
                  value={goal}
                  onChange={(e) => setQuery({ goal: (e.target as HTMLSelectElement).value })}
                >
                  <option>min</option>
                  <option>max</option>
                </select>
              </label>
              <label>
                status{' '}
                <select
                  value={statusFilter}
                  onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value })}
                >
                  <option value="">all</option>
                  {['pending', 'running', 'done', 'failed', 'cancelled'].map((s) => (
                    <option key={s}>{s}</option>
                  ))}
                </select>
              </label>
              <label>
                filter{' '}
                <input
                  data-testid="filter"
                  value={props.query.get('q') ?? ''}
                  placeholder="key, parameter, tag…"
                  onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value })}
                />
              </label>
              {best ? (
                <span class="best-summary" data-testid="best">
                  best by {metric} ({goal}):{' '}
                  <a href={runUrl(props.name, best.run.key)}>{best.run.key}</a> epoch{' '}
                  <b>{best.epoch}</b> = {fmt(best.value)}
                </span>
              ) : null}
            </div>
            {protocols.size > 1 ? (
              <p class="warning">
                {metric} mixes evaluation protocols {[...protocols].join(', ')} across runs: values
                of different protocols are not comparable.
              </p>
            ) : null}
            <p class="muted small" data-testid="count">
              {shown.length} of {runs.length} runs
            </p>
            <div
              class="table-wrap"
              ref={wrap}
              onScroll={(e) => {
                const el = e.currentTarget as HTMLDivElement;
                setView({ top: el.scrollTop, height: el.clientHeight });
              }}
            >
              <table class="grid runs" data-testid="runs">
                <thead>
                  <tr>
                    {header('run', 'key')}
                    {paramNames.map((p) => header(p, `p:${p}`))}
                    {header('status', 'status')}
                    {header('epochs', 'epoch', 'num')}
                    {metrics.map((m) => header(m, `m:${m}`, m === metric ? 'num selected' : 'num'))}
                  </tr>
                </thead>
                <tbody>
                  {first_ > 0 ? (
                    <tr class="spacer" style={{ height: `${first_ * ROW_PX}px` }}>
                      <td colSpan={colCount} />
                    </tr>
                  ) : null}
                  {shown.slice(first_, last_).map((r) => {
                    const isBest = best?.run.id === r.id;
                    return (
                      <tr key={r.id} data-run={r.key} class={isBest ? 'best' : ''}>
                        <td>
                          <a href={runUrl(props.name, r.key)}>{r.key}</a>
                          {r.tags.map((t) => (
                            <span class="tag" key={t}>
                              {t}
                            </span>
                          ))}
                        </td>
                        {paramNames.map((p) => (
                          <td key={p}>{paramText(params(r)[p] ?? '')}</td>
                        ))}
                        <td>
                          <span class={`status ${statusNow(r)}`}>{statusNow(r)}</span>
                        </td>
                        <td class="num">{r.lastEpoch ?? '–'}</td>
                        {metrics.map((m) => {
                          const b = bestOf(r, m, m === metric ? goal : goalOf(m, spec));
                          const mixed = (r.protocols[m]?.length ?? 0) > 1;
                          return (
                            <td
                              key={m}
                              class={`num ${m === metric ? 'selected' : ''} ${isBest && m === metric ? 'best-cell' : ''}`}
                              data-metric={m}
                              title={mixed ? 'this run mixes evaluation protocols' : undefined}
                            >
                              {b ? (
                                <>
                                  {fmt(b.value)}
                                  <span class="epoch">@{b.epoch}</span>
                                  {mixed ? <span class="warn-mark">!</span> : null}
                                </>
                              ) : (
                                '–'
                              )}
                            </td>
                          );
                        })}
                      </tr>
                    );
                  })}
                  {last_ < shown.length ? (
                    <tr class="spacer" style={{ height: `${(shown.length - last_) * ROW_PX}px` }}>
                      <td colSpan={colCount} />
                    </tr>
                  ) : null}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
      </Status>
    </>
  );
}
