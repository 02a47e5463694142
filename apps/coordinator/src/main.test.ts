import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createApiClient } from '@fidlab/api';
import { runCoordinator, startCoordinator } from './main.js';

const tmp = mkdtempSync(join(tmpdir(), 'fidlab-coordinator-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

test('serves the API over HTTP: a listening line, then tRPC answers', async () => {
  const c = capture();
  const served = await startCoordinator(
    ['--db', `pglite:${join(tmp, 'db')}`, '--port', '0', '--public-read'],
    c.io,
  );
  try {
    const line = JSON.parse(c.out[0]) as { type: string; url: string; db: string };
    assert.equal(line.type, 'listening');
    assert.equal(line.db, 'pglite');
    assert.match(line.url, /^http:\/\/127\.0\.0\.1:\d+\/trpc$/);
    const sweep = await served.store.upsertSweep({ name: 'seen-over-http', spec: {} });
    const client = createApiClient({ url: line.url.replace(/\/trpc$/, '') });
    const sweeps = await client.sweeps.list.query();
    assert.deepEqual(
      sweeps.map((s) => s.name),
      [sweep.name],
    );
  } finally {
    await served.close();
  }
});

test('a port that is taken is one clear error, exit 1', async () => {
  const c1 = capture();
  const first = await startCoordinator(['--db', 'memory:', '--port', '0'], c1.io);
  try {
    const port = first.server.port;
    const c2 = capture();
    assert.equal(await runCoordinator(['--db', 'memory:', '--port', String(port)], c2.io), 1);
    assert.match(
      c2.err.join('\n'),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`),
    );
  } finally {
    await first.close();
  }
  const c3 = capture();
  assert.equal(await runCoordinator(['--bogus'], c3.io), 2);
  assert.match(c3.err.join('\n'), /usage: fidlab-coordinator/);
});
