// Each command loads only what it needs: `fidlab --help` and `fidlab fid a.npy b.npy` must not
// load tfjs, sharp, Prisma or a database driver. A module-resolution hook in a child process
// records every module it resolves.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeNpy } from '@fidlab/base';
import { captureIo, tempDir } from '@fidlab/testing';
import { commands } from './commands/index.js';
import { runCli } from './main.js';

const root = join(import.meta.dirname, '..', '..', '..');
const dir = tempDir({ after }, 'fidlab-cli-lazy-');

const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.FIDLAB_RESOLVE_LOG, r.url + '\\n');
  return r;
}`;
const register = `import { register } from 'node:module';
register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;

/** Runs `fidlab ARGS` from the sources in a child; returns its exit code and resolved modules. */
function resolvedBy(name: string, args: string[]): { code: number | null; urls: string[] } {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@fidlab/source',
      '--import',
      'data:text/javascript,' + encodeURIComponent(register),
      join(root, 'tools', 'dev-fidlab.ts'),
      ...args,
    ],
    { cwd: root, encoding: 'utf8', env: { ...process.env, FIDLAB_RESOLVE_LOG: log } },
  );
  assert.equal(r.status, 0, r.stderr);
  return { code: r.status, urls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const HEAVY = /node_modules\/(@tensorflow|sharp|@prisma|\.prisma|@electric-sql|pg|nats|@nats-io)\//;

test('fidlab --help resolves no fidlab lib but base, and no heavy package', () => {
  const { urls } = resolvedBy('help', ['--help']);
  assert.ok(
    urls.some((u) => u.includes('/apps/cli/src/main.ts')),
    'the hook saw nothing',
  );
  assert.deepEqual(
    urls.filter((u) => HEAVY.test(u) || /\/libs\/(?!base\/)/.test(u)),
    [],
  );
});

test('fidlab fid a.npy b.npy loads fid-core, not tfjs, sharp, Prisma or drivers', () => {
  const a = join(dir, 'a.npy');
  const b = join(dir, 'b.npy');
  writeFileSync(a, encodeNpy({ shape: [3, 2], data: [0, 0, 1, 0, 0, 1] }, 'float32'));
  writeFileSync(b, encodeNpy({ shape: [3, 2], data: [1, 1, 2, 1, 1, 2] }, 'float32'));
  const { urls } = resolvedBy('fid', ['fid', a, b, '--json']);
  assert.ok(urls.some((u) => u.includes('/libs/fid-core/src/')));
  assert.deepEqual(
    urls.filter((u) => HEAVY.test(u)),
    [],
  );
});

test('the bus commands print --help from @fidlab/bus/flags without loading the NATS client', () => {
  for (const cmd of ['worker', 'workers', 'sweep']) {
    const { urls } = resolvedBy(`${cmd}-help`, [cmd, '--help']);
    assert.ok(
      urls.some((u) => u.endsWith('/libs/bus/src/flags.ts')),
      `${cmd}: the flag table comes from libs/bus/src/flags.ts`,
    );
    assert.deepEqual(
      urls.filter((u) =>
        /node_modules\/(nats|@nats-io)\/|\/libs\/bus\/src\/(?!flags\.ts$)/.test(u),
      ),
      [],
      cmd,
    );
  }
});

test('the help list matches each command module (name and summary)', async () => {
  for (const entry of commands) {
    const cmd = await entry.load();
    assert.equal(cmd.name, entry.name);
    assert.equal(cmd.summary, entry.summary, `summary of ${entry.name}`);
  }
  const io = captureIo();
  assert.equal(await runCli(['--help'], io), 0);
  for (const entry of commands)
    assert.match(io.stdout.join('\n'), new RegExp(`\\n  ${entry.name} `));
});

test('a command whose usage lists the extractors prints it on --help', async () => {
  const io = captureIo();
  assert.equal(await runCli(['fid', '--help'], io), 0);
  assert.match(
    io.stdout.join('\n'),
    /--extractor NAME {2}feature extractor for image folders: .*inception/,
  );
});
