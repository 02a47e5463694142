// Every sweep: status, live progress, trials done/running/failed, started/finished, owner, tags;
// filtered by owner and tag (both in the URL).
import { api, type SweepListRow } from '../api';
import { when } from '../format';
import { Status, useQuery, useRenderedMark } from '../hooks';
import { tally, useProgress } from '../live';
import { plannedEpochs } from '../recipes';
import { setQuery, sweepUrl } from '../route';

const FINISHED = new Set(['done', 'failed', 'cancelled']);

function SweepRow({ s }: { s: SweepListRow }) {
  // Sweeps still going are watched live; finished ones are as listed.
  const live = useProgress(FINISHED.has(s.status) ? null : s.name);
  const status = live?.status ?? s.status;
  const runs = live
    ? tally(live.runs)
    : { count: s.runs as Record<string, number>, epochs: null, total: 0 };
  const total = live ? runs.total : Object.values(s.runs).reduce((a: number, b) => a + (b ?? 0), 0);
  const done = runs.count.done ?? 0;
  // Progress by epochs when the spec says how many each trial trains, else by finished trials.
  let fraction = total
    ? (done + (runs.count.failed ?? 0) + (runs.count.cancelled ?? 0)) / total
    : 0;
  if (live) {
    const planned = plannedEpochs(s.spec, null);
    if (planned !== null && total > 0)
      fraction =
        live.runs.reduce(
          (a, r) => a + (FINISHED.has(r.status) ? planned : Math.min(r.lastEpoch ?? 0, planned)),
          0,
        ) /
        (planned * total);
  }
  return (
    <tr data-sweep={s.name}>
      <td>
        <a href={sweepUrl(s.name)}>{s.name}</a>
      </td>
      <td>
        <span class={`status ${status}`}>{status}</span>
      </td>
      <td class="progress-cell">
        <div class="bar" title={`${Math.round(fraction * 100)}%`}>
          <div style={{ width: `${(fraction * 100).toFixed(1)}%` }} />
        </div>
        <span class="small" data-testid="progress">
          {done}/{total} trials{runs.epochs !== null ? `, ${runs.epochs} epochs` : ''}
        </span>
      </td>
      <td class="num">{done}</td>
      <td class="num">{runs.count.running ?? 0}</td>
      <td class="num">{runs.count.failed ?? 0}</td>
      <td>{when(s.createdAt)}</td>
      <td>{FINISHED.has(status) ? when(s.updatedAt) : '–'}</td>
      <td>{s.owner ?? '–'}</td>
      <td>
        {s.tags.map((t) => (
          <span class="tag" key={t}>
            {t}
          </span>
        ))}
      </td>
    </tr>
  );
}

export function SweepsPage(props: { query: URLSearchParams }) {
  const q = useQuery(() => api.sweeps.list.query(), [], 'sweeps');
  const owner = props.query.get('owner') ?? '';
  const tag = props.query.get('tag') ?? '';
  const all = q.data ?? [];
  const owners = [...new Set(all.map((s) => s.owner).filter((o): o is string => !!o))].sort();
  const tags = [...new Set(all.flatMap((s) => s.tags))].sort();
  const shown = all.filter((s) => (!owner || s.owner === owner) && (!tag || s.tags.includes(tag)));
  useRenderedMark('sweeps', q.data !== undefined, shown.length);
  return (
    <>
      <h1>Sweeps</h1>
      <div class="filters">
        <label>
          owner{' '}
          <select
            value={owner}
            onChange={(e) => setQuery({ owner: (e.target as HTMLSelectElement).value })}
          >
            <option value="">all</option>
            {owners.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          tag{' '}
          <select
            value={tag}
            onChange={(e) => setQuery({ tag: (e.target as HTMLSelectElement).value })}
          >
            <option value="">all</option>
            {tags.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      <Status q={q}>
        {shown.length === 0 ? (
          <p class="muted">
            No sweeps{owner || tag ? ' match these filters' : ' yet: fidlab run SWEEP.yaml --serve'}
            .
          </p>
        ) : (
          <table class="grid" data-testid="sweeps">
            <thead>
              <tr>
                <th>sweep</th>
                <th>status</th>
                <th>progress</th>
                <th>done</th>
                <th>running</th>
                <th>failed</th>
                <th>started</th>
                <th>finished</th>
                <th>owner</th>
                <th>tags</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => (
                <SweepRow s={s} key={s.name} />
              ))}
            </tbody>
          </table>
        )}
      </Status>
    </>
  );
}
