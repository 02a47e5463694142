#!/usr/bin/env node
// The training worker: the compiled entry point (built by `npm ci` through the root `prepare` script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('fidlab-trainer: not built yet; run `npm run build` at the repository root');
  process.exit(1);
}
const { runTrainer } = await import(main.href);
process.exitCode = await runTrainer(process.argv.slice(2));
