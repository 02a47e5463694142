// Across training and features: an identity trial (@fidlab/training) fine-tunes a body, and its
// checkpoints load as `identity:<dir>:<layer>` extractors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { isFidlabError } from '@fidlab/base';
import { setupFastCpu } from '@fidlab/tfjs-cpu';
import { synthDataset } from '@fidlab/datasets';
import { loadIdentityCheckpoint, trainIdentity, type IdentityEpochResult } from '@fidlab/training';
import { identityFactory } from '../src/identityExtractor.js';

test('identity trial: facerec body fine-tuned on synthetic identities, rank-k per epoch, checkpoints load as extractors', async () => {
  // Training on tfjs' pure-JS cpu backend would take minutes; the wasm backend (with fidlab's
  // gradient kernels) takes seconds.
  await setupFastCpu();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fidlab-identity-'));
  try {
    const data = path.join(dir, 'data');
    // 6 identities x 3 images; the last image of each identity is held out (split 'test').
    await synthDataset({
      out: data,
      identities: 6,
      perIdentity: 3,
      size: 48,
      seed: 3,
      splitBy: 'image',
      testFraction: 0.34,
    });
    // Stand-ins for generated sketches: the held-out sketches copied to a folder, named as the
    // dataset's files (as `fidlab generate` names its outputs), so the probe is matched by name.
    const generated = path.join(dir, 'generated');
    await mkdir(generated);
    const testSketches = path.join(data, 'test', 'sketches');
    for (const f of await readdir(testSketches)) {
      await copyFile(path.join(testSketches, f), path.join(generated, f));
    }
    const seen: IdentityEpochResult[] = [];
    const out = path.join(dir, 'run');
    const r = await trainIdentity(
      {
        data,
        out,
        epochs: 6,
        batchSize: 6,
        lr: 1e-4,
        classifierLr: 0.05,
        optimizer: 'adam',
        // Only the last residual block, the fc layer and the classifier learn: fast on a CPU.
        frozen: 27, // = freezeThrough 'conv256_2/conv2': the 27 groups before conv256_down_out
        body: { inputSize: 104 },
        // Held-out sketches identified against the training sketches by classifier scores.
        eval: {
          probe: { dir: generated, split: 'test' },
          gallery: { split: 'train' },
          ks: [1, 3],
          layer: 'logits',
        },
        seed: 1,
      },
      { onEpoch: (e) => void seen.push(e) },
    );
    assert.equal(r.classes.length, 6);
    assert.equal(seen.length, 6);
    assert.deepEqual(
      seen.map((e) => e.epoch),
      [1, 2, 3, 4, 5, 6],
    );
    for (const e of seen) {
      assert.ok(Number.isFinite(e.loss));
      assert.ok(e.rank['1'] >= 0 && e.rank['1'] <= e.rank['3'] && e.rank['3'] <= 1);
    }
    // The new classifier learns the training identities (chance is 1/6) ...
    assert.ok(seen[5].loss < seen[0].loss, `loss ${seen.map((e) => e.loss)}`);
    assert.ok(seen[5].trainAccuracy > 0.5, `train accuracy ${seen.map((e) => e.trainAccuracy)}`);
    // ... and rank-1 of held-out sketches (by classifier scores, cosine) improves over the
    // untrained classifier's (epoch 0: 4/6 with this seed; 6/6 after training).
    const rank1 = seen.map((e) => e.rank['1']);
    assert.ok(r.best !== null && r.best.rank['1'] > r.initial.rank['1'], `rank-1 ${rank1}`);
    assert.ok(seen[5].rank['1'] >= 5 / 6, `rank-1 ${rank1}`);
    assert.equal(r.best, seen[rank1.indexOf(Math.max(...rank1))]);

    await assert.rejects(
      trainIdentity({
        data,
        out,
        epochs: 1,
        lr: 1,
        body: { inputSize: 104 },
        eval: { probe: { split: 'train' }, gallery: { split: 'train' } },
      }),
      (e) => isFidlabError(e) && e.code === 'INVALID_CONFIG' && /same images/.test(e.message),
    );

    await writeFile(path.join(generated, 'stranger.png'), Buffer.alloc(0));
    await assert.rejects(
      trainIdentity({
        data,
        out,
        epochs: 1,
        lr: 1,
        body: { inputSize: 104 },
        eval: { probe: { dir: generated, split: 'test' }, gallery: { split: 'train' } },
      }),
      (e) => isFidlabError(e) && /1 of 7 images .* stranger\.png/.test(e.message),
    );

    // Checkpoint: manifest with the epoch's metrics; loads as identity:<dir>:<layer>.
    const ckpt = seen[5].checkpointDir as string;
    assert.equal(path.basename(ckpt), 'epoch-0006');
    const { manifest, tensors } = await loadIdentityCheckpoint(ckpt);
    assert.equal(manifest.metrics.rank1, seen[5].rank['1']);
    assert.equal(manifest.classes.length, 6);
    tf.dispose([...tensors.values()]);
    const images = tf.randomUniform([2, 104, 104, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const emb = await identityFactory(
      { family: 'identity', checkpoint: ckpt, layer: 'embedding' },
      {},
    );
    assert.equal(emb.dims, 128);
    assert.deepEqual(emb.extract(images).shape, [2, 128]);
    emb.dispose();
    const logits = await identityFactory(
      { family: 'identity', checkpoint: ckpt, layer: 'logits' },
      {},
    );
    assert.equal(logits.dims, 6);
    assert.deepEqual(logits.extract(images).shape, [2, 6]);
    logits.dispose();
    await assert.rejects(
      identityFactory({ family: 'identity', checkpoint: ckpt, layer: 'fc9' }, {}),
      (e) => isFidlabError(e) && /pool, embedding, logits/.test(e.message),
    );
    // A corrupted weights file is refused by its sha256.
    await writeFile(path.join(ckpt, 'weights.bin'), Buffer.alloc(manifest.bytes));
    await assert.rejects(
      identityFactory({ family: 'identity', checkpoint: ckpt, layer: 'pool' }, {}),
      (e) => isFidlabError(e) && e.code === 'BAD_FILE_FORMAT' && /sha256/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
