#!/usr/bin/env node
// The coordinator: the compiled entry point (built by `npm ci` through the root `prepare` script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('fidlab-coordinator: not built yet; run `npm run build` at the repository root');
  process.exit(1);
}
const { runCoordinator } = await import(main.href);
process.exitCode = await runCoordinator(process.argv.slice(2));
