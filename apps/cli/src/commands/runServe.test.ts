// `fidlab run --serve [PORT]`: the running sweep is served (API + dashboard) from its own process,
// readable without a token, its owner recorded, and its progress visible while it trains.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createApiClient, DEFAULT_PORT } from '@fidlab/api';
import { captureIo } from '@fidlab/testing';
import { UsageError } from '../command.js';
import { runCommand, takeServe } from './run.js';

describe('fidlab run --serve', () => {
  const dir = { path: mkdtempSync(join(tmpdir(), 'fidlab-run-serve-')) };
  after(() => rmSync(dir.path, { recursive: true, force: true }));

  it('takes --serve with or without a port', () => {
    assert.deepEqual(takeServe(['a.yaml', '--serve']), {
      argv: ['a.yaml'],
      servePort: DEFAULT_PORT,
    });
    assert.deepEqual(takeServe(['--serve', '0', 'a.yaml']), { argv: ['a.yaml'], servePort: 0 });
    assert.deepEqual(takeServe(['--serve=4500', 'a.yaml']), { argv: ['a.yaml'], servePort: 4500 });
    assert.deepEqual(takeServe(['--serve', 'a.yaml']), {
      argv: ['a.yaml'],
      servePort: DEFAULT_PORT,
    });
    assert.deepEqual(takeServe(['a.yaml']), { argv: ['a.yaml'], servePort: null });
    assert.throws(() => takeServe(['--serve=70000']), UsageError);
    assert.throws(() => takeServe(['--serve=x']), UsageError);
  });

  it('serves the live sweep from the running process and records its owner', async () => {
    const file = join(dir.path, 'live.yaml');
    writeFileSync(
      file,
      `name: live
data:
  root: ${join(dir.path, 'data')}
  size: 32
  synth: { identities: 4, per_identity: 3, seed: 3 }
parameters:
  seed: { values: [1] }
fixed: { model: unet, direction: sketch2sketch, gan_mode: none, epochs: 2, epochs_decay: 0, batch_size: 4, ngf: 4 }
evaluate:
  metrics:
    - { name: fid_face, kind: fid, extractor: facerec }
select: { metric: fid_face, goal: min }
`,
    );
    const prevUser = process.env.FIDLAB_USER;
    process.env.FIDLAB_USER = 'tester';
    const io = captureIo();
    const seen: (number | null)[] = [];
    let served: string | null = null;
    let owner: string | null | undefined;
    const watch = (async () => {
      for (let i = 0; i < 2400 && served === null; i++) {
        const line = io.stdout.find((l) => l.startsWith('dashboard: '));
        if (line) served = line.slice('dashboard: '.length);
        else await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(served, `no dashboard line: ${io.stdout.join('|')}`);
      assert.match(served, /^http:\/\/127\.0\.0\.1:\d+\/sweeps\/live$/);
      const base = new URL(served).origin;
      const client = createApiClient({ url: base });
      const page = await fetch(served);
      // The app when the dashboard is built (npm ci builds it); the route is answered either way.
      assert.ok([200, 404].includes(page.status), `GET ${served}: ${page.status}`);
      // Read without a token while the sweep runs; the epochs move. The server stops with the
      // sweep, so a refused read after a successful one means it is over.
      for (let i = 0; i < 1200; i++) {
        const runs = await client.runs.list.query({ sweep: 'live' }).catch(() => null);
        if (runs === null && seen.length > 0) break;
        owner ??= (await client.sweeps.list.query().catch(() => null))?.find(
          (s) => s.name === 'live',
        )?.owner;
        const last = runs?.[0]?.lastEpoch ?? null;
        if (runs && seen.at(-1) !== last) seen.push(last);
        if (last === 2) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const rc = await runCommand.run(
        [
          file,
          '--db',
          `pglite:${join(dir.path, 'db')}`,
          '--runs-dir',
          join(dir.path, 'runs'),
          '--backend',
          'wasm',
          '--serve',
          '0',
        ],
        io,
      );
      await watch;
      assert.equal(rc, 0, io.stderr.join('\n'));
    } finally {
      if (prevUser === undefined) delete process.env.FIDLAB_USER;
      else process.env.FIDLAB_USER = prevUser;
    }
    assert.equal(owner, 'tester');
    assert.ok(
      seen.some((e) => e !== null),
      `an epoch seen while running: ${seen.join(', ')}`,
    );
  });
});
