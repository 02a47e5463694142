// The processes that execute runs: who runs what, last heartbeat. Refreshed every 5 s.
import { useEffect } from 'preact/hooks';
import { api } from '../api';
import { ago, when } from '../format';
import { Status, useQuery, useRenderedMark } from '../hooks';

/** A worker not heard from for this long is shown as silent. */
const SILENT_MS = 30_000;

export function WorkersPage() {
  const q = useQuery(() => api.workers.list.query(), [], 'workers');
  useEffect(() => {
    const t = setInterval(() => q.reload(), 5000);
    return () => clearInterval(t);
  }, []);
  useRenderedMark('workers', q.data !== undefined, q.data?.length);
  const now = Date.now();
  return (
    <>
      <h1>Workers</h1>
      <Status q={q}>
        {q.data && q.data.length === 0 ? (
          <p class="muted">No workers registered.</p>
        ) : (
          <table class="grid" data-testid="workers">
            <thead>
              <tr>
                <th>worker</th>
                <th>host</th>
                <th>pid</th>
                <th>status</th>
                <th>running</th>
                <th>started</th>
                <th>last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {(q.data ?? []).map((w) => {
                const info = (w.info ?? {}) as Record<string, unknown>;
                const silent = now - new Date(w.lastSeenAt).getTime() > SILENT_MS;
                const doing = info.run ?? info.job ?? info.current ?? null;
                return (
                  <tr key={w.id} class={silent ? 'silent' : ''}>
                    <td>{w.id}</td>
                    <td>{w.hostname}</td>
                    <td class="num">{w.pid ?? '–'}</td>
                    <td>
                      <span class={`status ${w.status}`}>{w.status}</span>
                      {silent ? (
                        <span class="warn-mark" title="no heartbeat for 30 s">
                          silent
                        </span>
                      ) : null}
                    </td>
                    <td>
                      {doing === null
                        ? '–'
                        : typeof doing === 'string'
                          ? doing
                          : JSON.stringify(doing)}
                    </td>
                    <td>{when(w.startedAt)}</td>
                    <td title={w.lastSeenAt}>{ago(w.lastSeenAt, now)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Status>
    </>
  );
}
