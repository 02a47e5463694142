import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  atomicWrite,
  atomicWriteDir,
  atomicWriteWith,
  removeTempSiblings,
  tempPath,
  writeFileSynced,
} from './atomicWrite.js';

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fidlab-atomic-'));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('tempPath: a hidden sibling named after the target', () => {
  const t = tempPath('/a/b/epoch-0003');
  assert.match(t, /^\/a\/b\/\.tmp-epoch-0003-\d+-[0-9a-f]{8}$/);
  assert.notEqual(tempPath('/a/b/x'), tempPath('/a/b/x'));
});

test('atomicWrite replaces a file; a failed write leaves the old one and no temporary', () =>
  withDir(async (dir) => {
    const f = join(dir, 'x.json');
    await atomicWrite(f, 'one');
    await atomicWrite(f, new Uint8Array([116, 119, 111]));
    assert.equal(await readFile(f, 'utf8'), 'two');
    await assert.rejects(
      atomicWriteWith(f, async (tmp) => {
        await writeFile(tmp, 'half');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(await readFile(f, 'utf8'), 'two');
    assert.deepEqual(await readdir(dir), ['x.json']);
  }));

test('atomicWriteDir: the folder appears whole, replaces an old one, and a failure leaves nothing', () =>
  withDir(async (dir) => {
    const target = join(dir, 'epoch-0001');
    await mkdir(target);
    await writeFile(join(target, 'stale.bin'), 'old');
    const n = await atomicWriteDir(target, async (tmp) => {
      assert.ok(!tmp.startsWith(target) && tmp.startsWith(join(dir, '.tmp-epoch-0001-')));
      await writeFileSynced(join(tmp, 'a.bin'), 'A');
      await writeFileSynced(join(tmp, 'manifest.json'), '{}');
      return 2;
    });
    assert.equal(n, 2);
    assert.deepEqual((await readdir(target)).sort(), ['a.bin', 'manifest.json']);
    await assert.rejects(
      atomicWriteDir(join(dir, 'epoch-0002'), async (tmp) => {
        await writeFileSynced(join(tmp, 'a.bin'), 'A');
        throw new Error('interrupted');
      }),
      /interrupted/,
    );
    assert.deepEqual(await readdir(dir), ['epoch-0001']);
  }));

test('removeTempSiblings removes what crashed writes left, filtered by target name', () =>
  withDir(async (dir) => {
    await mkdir(join(dir, '.tmp-epoch-0002-123-abcd'));
    await writeFile(join(dir, '.tmp-epoch-0002-123-abcd', 'g.bin'), 'x');
    await writeFile(join(dir, '.tmp-other-1-ff'), 'x');
    await mkdir(join(dir, 'epoch-0001'));
    assert.deepEqual(await removeTempSiblings(dir, (n) => n.startsWith('epoch-')), [
      '.tmp-epoch-0002-123-abcd',
    ]);
    assert.deepEqual((await readdir(dir)).sort(), ['.tmp-other-1-ff', 'epoch-0001']);
    assert.deepEqual(await removeTempSiblings(dir), ['.tmp-other-1-ff']);
    assert.deepEqual(await removeTempSiblings(join(dir, 'missing')), []);
    assert.ok(existsSync(join(dir, 'epoch-0001')));
  }));
