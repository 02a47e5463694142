import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isFidlabError } from '@fidlab/base';
import { setupFastCpu } from '@fidlab/tfjs-cpu';
import { synthDataset } from '@fidlab/datasets';
import { readIdentityManifest } from './identityCheckpoint.js';
import type { IdentityConfigInput } from './identityConfig.js';
import { trainIdentity, type IdentityEpochResult } from './identityTrain.js';

// An identity trial interrupted after epoch 1 of 2 and resumed continues at epoch 2 from the
// checkpoint (weights, optimizer state, epoch) and ends where an uninterrupted run ends.

test('identity trial: interrupted after epoch 1 of 2, resume continues at epoch 2 exactly', async () => {
  await setupFastCpu();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fidlab-identity-resume-'));
  try {
    const data = path.join(dir, 'data');
    await synthDataset({
      out: data,
      identities: 4,
      perIdentity: 3,
      size: 48,
      seed: 7,
      splitBy: 'image',
      testFraction: 0.34,
    });
    const config = (out: string, over: Partial<IdentityConfigInput> = {}): IdentityConfigInput => ({
      data,
      out,
      epochs: 2,
      batchSize: 4,
      lr: 1e-4,
      classifierLr: 0.05,
      optimizer: 'adam',
      frozen: 27, // only the last residual block, fc and the classifier learn: fast on a CPU
      body: { inputSize: 104 },
      eval: { probe: { split: 'test' }, gallery: { split: 'train' }, ks: [1, 2] },
      seed: 2,
      ...over,
    });

    // Uninterrupted: epochs 1 and 2.
    const straight = await trainIdentity(config(path.join(dir, 'straight')));
    assert.deepEqual(
      straight.epochs.map((e) => e.epoch),
      [1, 2],
    );

    // Interrupted after epoch 1 (Ctrl-C: the signal is seen before epoch 2's first batch).
    const out = path.join(dir, 'resumed');
    const stop = new AbortController();
    const first: IdentityEpochResult[] = [];
    const r1 = await trainIdentity(config(out, { resume: true }), {
      signal: stop.signal,
      onEpoch: (e) => {
        first.push(e);
        stop.abort();
      },
    });
    assert.equal(r1.aborted, true);
    assert.equal(r1.resumedFrom, null);
    assert.deepEqual(
      first.map((e) => e.epoch),
      [1],
    );
    const ck1 = path.join(out, 'checkpoints', 'epoch-0001');
    assert.ok(existsSync(path.join(ck1, 'optimizer.bin')), 'the newest checkpoint keeps its state');

    // Writes of epoch 2 that crashed half way (today's and the older `.partial` name): resume
    // removes them and says so.
    const leftovers = ['.tmp-epoch-0002-4242-0badf00d', 'epoch-0002.partial-4242-1700000000000'];
    for (const name of leftovers) {
      await mkdir(path.join(out, 'checkpoints', name));
      await writeFile(path.join(out, 'checkpoints', name, 'weights.bin'), Buffer.alloc(1000));
    }

    // Resumed: only epoch 2 runs, from epoch 1's weights and optimizer state.
    const second: IdentityEpochResult[] = [];
    const lines: string[] = [];
    const r2 = await trainIdentity(config(out, { resume: true }), {
      onEpoch: (e) => void second.push(e),
      log: (l) => lines.push(l),
    });
    assert.equal(r2.aborted, false);
    assert.equal(r2.resumedFrom, 1);
    assert.deepEqual(
      second.map((e) => e.epoch),
      [2],
      'epoch 1 is not trained again',
    );
    assert.ok(
      lines.some((l) =>
        /resuming .* from .*epoch-0001 \(epoch 1\); removed 2 unfinished checkpoint writes left by a crash: \.tmp-epoch-0002-4242-0badf00d, epoch-0002\.partial-4242-1700000000000$/.test(
          l,
        ),
      ),
      lines.join('\n'),
    );
    assert.deepEqual((await readdir(path.join(out, 'checkpoints'))).sort(), [
      'epoch-0001',
      'epoch-0002',
    ]);
    // Same data order, dropout seeds and optimizer state: the same network as without the stop.
    const [s2] = straight.epochs.slice(1);
    assert.equal(second[0].sha256, s2.sha256, 'epoch 2 weights equal the uninterrupted run');
    assert.equal(second[0].loss, s2.loss);
    assert.deepEqual(second[0].rank, s2.rank);
    // Only the newest checkpoint keeps the optimizer state; `best` also weighs epoch 1.
    assert.ok(!existsSync(path.join(ck1, 'optimizer.bin')), 'epoch 1 state pruned');
    assert.ok(existsSync(path.join(out, 'checkpoints', 'epoch-0002', 'optimizer.bin')));
    const k1 = (e: IdentityEpochResult) => e.rank['1'];
    assert.equal(r2.best?.epoch, k1(first[0]) >= k1(second[0]) ? 1 : 2);
    assert.equal((await readIdentityManifest(ck1)).metrics.rank1, first[0].rank['1']);

    // Resuming a finished trial trains nothing; another optimizer is refused, naming both.
    const done = await trainIdentity(config(out, { resume: true }));
    assert.equal(done.resumedFrom, 2);
    assert.deepEqual(done.epochs, []);
    await assert.rejects(
      trainIdentity(config(out, { resume: true, optimizer: 'momentum' })),
      (e) =>
        isFidlabError(e) &&
        e.code === 'INVALID_CONFIG' &&
        /trained with optimizer adam, this run asks for momentum/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Every file below `dir` with its bytes and modification time, to see that nothing changed. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    files.set(p, `${(await stat(p)).mtimeMs} ${(await readFile(p)).toString('base64')}`);
  }
  return files;
}

test('identity trial: a run folder with checkpoints is refused without resume, untouched', async () => {
  await setupFastCpu();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fidlab-identity-refuse-'));
  try {
    const data = path.join(dir, 'data');
    await synthDataset({
      out: data,
      identities: 3,
      perIdentity: 2,
      size: 48,
      seed: 3,
      splitBy: 'image',
      testFraction: 0.5,
    });
    const out = path.join(dir, 'run');
    const config: IdentityConfigInput = {
      data,
      out,
      epochs: 1,
      batchSize: 4,
      lr: 1e-4,
      optimizer: 'adam',
      frozen: 27,
      body: { inputSize: 104 },
      eval: { probe: { split: 'test' }, gallery: { split: 'train' }, ks: [1] },
      seed: 1,
    };
    const first = await trainIdentity(config);
    assert.equal(first.epochs.length, 1);
    const before = await snapshot(out);
    assert.ok(before.size >= 2, [...before.keys()].join(', '));

    // generator trials' refusal (train()): the same code and message, naming the newest checkpoint.
    await assert.rejects(trainIdentity({ ...config, epochs: 2 }), (e) => {
      assert.ok(isFidlabError(e), String(e));
      assert.equal(e.code, 'INVALID_CONFIG');
      assert.equal(
        e.message,
        `${out} already has checkpoints (newest ${path.join(out, 'checkpoints', 'epoch-0001')}); resume it or choose another run dir`,
      );
      return true;
    });
    assert.deepEqual(await snapshot(out), before, 'the refused run changed the folder');

    // With resume it continues, as before.
    const resumed = await trainIdentity({ ...config, epochs: 2, resume: true });
    assert.equal(resumed.resumedFrom, 1);
    assert.deepEqual(
      resumed.epochs.map((e) => e.epoch),
      [2],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
