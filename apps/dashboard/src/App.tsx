import { useState } from 'preact/hooks';
import { api, errorText, getToken, setToken } from './api';
import { useQuery } from './hooks';
import { ComparePage } from './pages/Compare';
import { RunPage } from './pages/Run';
import { SweepPage } from './pages/Sweep';
import { SweepsPage } from './pages/Sweeps';
import { WorkersPage } from './pages/Workers';
import { onLinkClick, useRoute } from './route';

export function useMe() {
  return useQuery(() => api.me.query(), []);
}

function TokenBox() {
  const me = useMe();
  const [draft, setDraft] = useState('');
  const token = getToken();
  const name = me.data?.name ?? null;
  if (name)
    return (
      <span class="token">
        signed in as <b data-testid="me">{name}</b>{' '}
        <button type="button" onClick={() => setToken(null)}>
          sign out
        </button>
      </span>
    );
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(draft.trim() || null);
        setDraft('');
      }}
    >
      {token && !me.loading ? <span class="error">token not accepted</span> : null}
      {me.data?.publicRead ? <span class="muted">read-only</span> : null}
      <input
        type="password"
        placeholder="token (fidlab token create NAME)"
        aria-label="API token"
        value={draft}
        onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
      />
      <button type="submit">use token</button>
    </form>
  );
}

export function App() {
  const route = useRoute();
  const p = route.path;
  let page;
  let m: RegExpExecArray | null;
  if (p === '/') page = <SweepsPage query={route.query} />;
  else if ((m = /^\/sweeps\/([^/]+)$/.exec(p)))
    page = <SweepPage name={decodeURIComponent(m[1])} query={route.query} />;
  else if ((m = /^\/runs\/([^/]+)$/.exec(p)))
    page = <RunPage runKey={decodeURIComponent(m[1])} query={route.query} />;
  else if (p === '/compare') page = <ComparePage query={route.query} />;
  else if (p === '/workers') page = <WorkersPage />;
  else page = <p class="error">no page at {p}</p>;
  const active = (x: string) =>
    x === '/' ? p === '/' || p.startsWith('/sweeps') || p.startsWith('/runs') : p === x;
  return (
    <div onClick={onLinkClick}>
      <header>
        <a class="brand" href="/">
          fidlab
        </a>
        <nav>
          <a href="/" class={active('/') ? 'on' : ''}>
            Sweeps
          </a>
          <a href="/compare" class={active('/compare') ? 'on' : ''}>
            Compare
          </a>
          <a href="/workers" class={active('/workers') ? 'on' : ''}>
            Workers
          </a>
        </nav>
        <TokenBox />
      </header>
      <main>{page}</main>
    </div>
  );
}

export { errorText };
