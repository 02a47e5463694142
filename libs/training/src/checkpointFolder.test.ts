import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkpointsDir,
  describeRemoved,
  epochDirName,
  listCheckpointFolders,
  pruneCheckpointFiles,
  removeUnfinishedCheckpoints,
  writeCheckpoint,
} from './checkpointFolder.js';

async function withRun(f: (run: string) => Promise<void>): Promise<void> {
  const run = await mkdtemp(join(tmpdir(), 'fidlab-ckfolder-'));
  try {
    await f(run);
  } finally {
    await rm(run, { recursive: true, force: true });
  }
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

test('writeCheckpoint: files, then a manifest built from their sizes and sha256; listed newest first', () =>
  withRun(async (run) => {
    for (const epoch of [1, 2]) {
      const dir = join(checkpointsDir(run), epochDirName(epoch));
      const r = await writeCheckpoint(
        dir,
        [
          ['w.bin', Buffer.from(`weights ${epoch}`)],
          ['s.bin', Buffer.from('state')],
        ],
        { name: 'm.json', build: (files) => JSON.stringify({ epoch, files }) },
      );
      assert.equal(r.dir, dir);
      assert.deepEqual(r.files[0], { name: 'w.bin', bytes: 9, sha256: hex(`weights ${epoch}`) });
      assert.equal(await readFile(join(dir, 'm.json'), 'utf8'), r.manifest.toString('utf8'));
    }
    // A folder without its manifest is not a checkpoint; nor is a crashed write's temporary.
    await mkdir(join(checkpointsDir(run), 'epoch-0003'));
    await mkdir(join(checkpointsDir(run), '.tmp-epoch-0004-1-ab'));
    assert.deepEqual(await listCheckpointFolders(run, 'm.json'), [
      { epoch: 2, dir: join(checkpointsDir(run), 'epoch-0002') },
      { epoch: 1, dir: join(checkpointsDir(run), 'epoch-0001') },
    ]);
    assert.deepEqual(await listCheckpointFolders(join(run, 'none'), 'm.json'), []);

    // Pruning keeps the manifest and records what went.
    const old = join(checkpointsDir(run), 'epoch-0001');
    await pruneCheckpointFiles(old, ['s.bin'], 'pruned.json');
    assert.deepEqual((await readdir(old)).sort(), ['m.json', 'pruned.json', 'w.bin']);
    const pruned = JSON.parse(await readFile(join(old, 'pruned.json'), 'utf8'));
    assert.deepEqual(pruned.removed, ['s.bin']);
  }));

test('writeCheckpoint: a failing manifest leaves no folder and no temporary', () =>
  withRun(async (run) => {
    const dir = join(checkpointsDir(run), epochDirName(1));
    await assert.rejects(
      writeCheckpoint(dir, [['w.bin', Buffer.from('x')]], {
        name: 'm.json',
        build: () => {
          throw new Error('no manifest');
        },
      }),
      /no manifest/,
    );
    assert.deepEqual(await readdir(checkpointsDir(run)), []);
  }));

test('removeUnfinishedCheckpoints: crashed writes of either naming go, checkpoints stay', () =>
  withRun(async (run) => {
    const root = checkpointsDir(run);
    assert.deepEqual(await removeUnfinishedCheckpoints(run), []); // no checkpoints folder yet
    for (const n of ['epoch-0001', '.tmp-epoch-0002-77-beef', 'epoch-0002.partial-77-1']) {
      await mkdir(join(root, n), { recursive: true });
      await writeFile(join(root, n, 'x.bin'), 'x');
    }
    const removed = await removeUnfinishedCheckpoints(run);
    assert.deepEqual(removed, ['.tmp-epoch-0002-77-beef', 'epoch-0002.partial-77-1']);
    assert.deepEqual(await readdir(root), ['epoch-0001']);
    assert.ok(existsSync(join(root, 'epoch-0001', 'x.bin')));
    assert.equal(
      describeRemoved(removed),
      '; removed 2 unfinished checkpoint writes left by a crash: .tmp-epoch-0002-77-beef, epoch-0002.partial-77-1',
    );
    assert.equal(describeRemoved([]), '');
  }));
