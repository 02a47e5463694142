// History-URL routing: every view's state lives in its path and query string, so a link shows
// the same view. navigate() pushes a new entry; setQuery() replaces the current one.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();
const current = (): Route => ({
  path: location.pathname,
  query: new URLSearchParams(location.search),
});

window.addEventListener('popstate', () => listeners.forEach((fn) => fn()));

export function navigate(url: string): void {
  history.pushState(null, '', url);
  listeners.forEach((fn) => fn());
}

/** Sets (or with null/'' removes) query parameters of the current view, in place. */
export function setQuery(changes: Record<string, string | null | undefined>): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
  listeners.forEach((fn) => fn());
}

export function useRoute(): Route {
  const [route, set] = useState(current);
  useEffect(() => {
    const fn = () => set(current());
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, []);
  return route;
}

/** Links handled in the page (left clicks without modifiers), so state survives. */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('/files/') || a.target) return;
  e.preventDefault();
  navigate(href);
}

export const sweepUrl = (name: string) => `/sweeps/${encodeURIComponent(name)}`;
export const runUrl = (sweep: string, key: string) =>
  `/runs/${encodeURIComponent(key)}?sweep=${encodeURIComponent(sweep)}`;
