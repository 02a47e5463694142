#!/usr/bin/env node
// The `fidlab` command: the compiled CLI (built by `npm ci` through the root `prepare` script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('fidlab: not built yet; run `npm run build` (or `npm ci`) at the repository root');
  process.exit(1);
}
// `fidlab export ... | head`: a reader that goes away is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { runCli } = await import(main.href);
process.exitCode = await runCli(process.argv.slice(2));
