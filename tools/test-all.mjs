// `npm test`: every project's `test` target through Nx, then the cross-lib suites in test/,
// then one closing line with the totals. Fails when anything failed or when zero tests ran.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tallyDir = mkdtempSync(join(tmpdir(), 'fidlab-tally-'));
const env = {
  ...process.env,
  FIDLAB_TEST_TALLY: tallyDir,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
};
const extra = process.argv.slice(2);

// Build first (cached by Nx): the suites in test/ run the compiled `fidlab` binary.
const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], {
  stdio: 'inherit',
  env,
});
if (build.status !== 0) process.exit(build.status ?? 1);

const nx = spawnSync('npx', ['nx', 'run-many', '-t', 'test', '--outputStyle=stream', ...extra], {
  stdio: 'inherit',
  env,
});
let status = nx.status ?? 1;

const rootSuites =
  existsSync('test') &&
  readdirSync('test', { recursive: true }).some((f) => String(f).endsWith('.test.ts'));
if (rootSuites) {
  const e2e = spawnSync(process.execPath, ['tools/run-node-tests.mjs', 'test'], {
    stdio: 'inherit',
    env,
  });
  status ||= e2e.status ?? 1;
}

const totals = { tests: 0, pass: 0, fail: 0, skipped: 0 };
for (const f of readdirSync(tallyDir)) {
  const t = JSON.parse(readFileSync(join(tallyDir, f), 'utf8'));
  for (const k of Object.keys(totals)) totals[k] += t[k];
}
if (totals.tests === 0) {
  console.error('fidlab test: zero tests ran');
  status ||= 1;
}
console.log(`\nfidlab: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(status);
