// The dashboard's static files: built assets by path, and the app's index.html for every
// history-URL route it owns, so a shared link opens the same view.
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { contentType, fileUnder } from './files.js';

/** Paths the single-page app answers (anything else that is not a file is a 404). */
export function isAppRoute(path: string): boolean {
  return (
    path === '/' ||
    path === '/compare' ||
    path === '/workers' ||
    /^\/sweeps\/[^/]+$/.test(path) ||
    /^\/runs\/[^/]+(\/[^/]+)?$/.test(path)
  );
}

/** Serves `path` from the built dashboard in `dir`; false when it is neither a file nor a route. */
export async function serveDashboard(
  dir: string,
  path: string,
  res: ServerResponse,
): Promise<boolean> {
  let rel: string;
  try {
    rel = decodeURIComponent(path).replace(/^\/+/, '');
  } catch {
    return false;
  }
  const file = rel === '' ? null : await fileUnder(dir, rel);
  if (file) {
    res.writeHead(200, {
      'content-type': contentType(file),
      // Vite names assets by content hash: they never change under the same name.
      'cache-control': rel.startsWith('assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
    });
    res.end(await readFile(file));
    return true;
  }
  if (!isAppRoute(path)) return false;
  const index = await fileUnder(dir, 'index.html');
  if (!index) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`the dashboard is not built (${dir}/index.html is missing): run npm run build\n`);
    return true;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
  res.end(await readFile(index));
  return true;
}
