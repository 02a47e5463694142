// The installed `fidlab` binary (apps/cli/bin/fidlab.js -> dist), as a user runs it after `npm ci`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeNpy } from '@fidlab/base';

const bin = join(import.meta.dirname, '../node_modules/.bin/fidlab');
const built = existsSync(join(import.meta.dirname, '../apps/cli/dist/main.js'));

function fidlab(...args: string[]) {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test(
  'fidlab binary: --help, fid --json, and one-line errors',
  { skip: !built && !process.env.CI && 'apps/cli is not built (run npm run build)' },
  () => {
    const help = fidlab('--help');
    assert.equal(help.code, 0);
    for (const cmd of ['fid', 'kid', 'rank-k', 'stats', 'correlate', 'demo'])
      assert.match(help.out, new RegExp(`\\n  ${cmd} `));
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-bin-'));
    const a = join(dir, 'a.npy');
    const b = join(dir, 'b.npy');
    // 1-D features {0, 2} and {0, 4}: FID = (1 - 2)^2 + (sqrt2 - sqrt8)^2 = 3.
    writeFileSync(a, encodeNpy({ shape: [2, 1], data: [0, 2] }, 'float32'));
    writeFileSync(b, encodeNpy({ shape: [2, 1], data: [0, 4] }));
    const r = fidlab('fid', a, b, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.ok(Math.abs(j.fid - 3) < 1e-12);
    assert.deepEqual([j.n1, j.n2, j.dims, j.method], [2, 2, 1, 'full']);
    const bad = fidlab('fid', a, join(dir, 'nope.npy'));
    assert.equal(bad.code, 1);
    assert.equal(bad.err.trim().split('\n').length, 1);
    assert.match(bad.err, /nope.npy: no such file/);
  },
);
