// Runs node's test runner (under tsx, resolving @fidlab/* to their TypeScript sources) on the
// *.test.ts files below the given folders. Node 20 finds zero tests when handed a folder, so the
// files are listed here. Fails when no test ran; when FIDLAB_TEST_TALLY names a folder, writes
// this run's counts there for tools/test-all.mjs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';

const roots = process.argv.slice(2);
if (roots.length === 0) {
  console.error('usage: node tools/run-node-tests.mjs DIR [DIR...]');
  process.exit(2);
}

function findTests(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = roots.flatMap((r) => findTests(resolve(r), [])).sort();
const label = roots.join(' ');
if (files.length === 0) {
  console.error(`no test files (*.test.ts) under ${label}`);
  process.exit(1);
}

const tap = join(mkdtempSync(join(tmpdir(), 'fidlab-tap-')), 'out.tap');
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--conditions=@fidlab/source',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files.map((f) => relative(process.cwd(), f)),
  ],
  { stdio: 'inherit' },
);

const text = readFileSync(tap, 'utf8');
const count = (key) =>
  Number(
    /^# (\w+) (\d+)$/m.test(text)
      ? (text.match(new RegExp(`^# ${key} (\\d+)$`, 'm'))?.[1] ?? 0)
      : 0,
  );
const tally = {
  tests: count('tests'),
  pass: count('pass'),
  fail: count('fail'),
  skipped: count('skipped'),
};
if (process.env.FIDLAB_TEST_TALLY) {
  writeFileSync(
    join(process.env.FIDLAB_TEST_TALLY, `${basename(resolve(roots[0]))}-${process.pid}.json`),
    JSON.stringify({ label, ...tally }),
  );
}
if (tally.tests === 0) {
  console.error(`zero tests ran under ${label}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
