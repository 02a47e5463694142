import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '@fidlab/base';
import type { StateDict } from '@fidlab/weights';
import { createIdentityBody, vggfaceBody, vggfaceParamMap } from './identityBody.js';

const BLOCKS = [
  [4, 4],
  [6, 6],
  [8, 8, 8],
  [8, 8, 8],
  [8, 8, 8],
];

/** A VGG-Face-shaped state_dict with narrow layers (PyTorch layouts), for a 32 px input. */
function narrowVggStateDict(seed: number): StateDict {
  const rng = createRng(seed);
  const sd: StateDict = new Map();
  const put = (key: string, shape: number[], std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rng.next() * 2 - 1) * std;
    sd.set(key, { shape, dtype: 'float32', data });
  };
  let c = 3;
  BLOCKS.forEach((ws, b) =>
    ws.forEach((w, i) => {
      put(`conv${b + 1}_${i + 1}.weight`, [w, c, 3, 3], Math.sqrt(6 / (9 * c)));
      put(`conv${b + 1}_${i + 1}.bias`, [w], 0.1);
      c = w;
    }),
  );
  put('fc6.weight', [10, 8 * 1 * 1], 0.5); // pool5 of a 32 px input is 1x1x8
  put('fc6.bias', [10], 0.1);
  put('fc7.weight', [12, 10], 0.5);
  put('fc7.bias', [12], 0.1);
  return sd;
}

/** Straightforward NCHW reference of the same network (PyTorch semantics), through fc7. */
function reference(sd: StateDict, images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const t = (k: string) => {
      const w = sd.get(k)!;
      return tf.tensor(w.data, w.shape);
    };
    let x = tf.sub(tf.mul(images, 255), tf.tensor1d([129.1863, 104.7624, 93.594])) as tf.Tensor4D;
    BLOCKS.forEach((ws, b) => {
      ws.forEach((_, i) => {
        const name = `conv${b + 1}_${i + 1}`;
        const hwio = tf.transpose(t(`${name}.weight`), [2, 3, 1, 0]) as tf.Tensor4D;
        x = tf.relu(tf.add(tf.conv2d(x, hwio, 1, 'same'), t(`${name}.bias`))) as tf.Tensor4D;
      });
      x = tf.maxPool(x, 2, 2, 'valid');
    });
    const nchw = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]) as tf.Tensor2D;
    const fc6 = tf.relu(
      tf.add(tf.matMul(nchw, t('fc6.weight') as tf.Tensor2D, false, true), t('fc6.bias')),
    );
    return tf.add(
      tf.matMul(fc6 as tf.Tensor2D, t('fc7.weight') as tf.Tensor2D, false, true),
      t('fc7.bias'),
    );
  }) as tf.Tensor2D;
}

test('vggface body: converted weights give the PyTorch-layout network (fc6 NCHW order, fc7)', () => {
  const sd = narrowVggStateDict(4);
  const body = vggfaceBody(vggfaceParamMap(sd), 32);
  assert.deepEqual(body.layers, { fc6: 10, relu6: 10, fc7: 12, relu7: 12 });
  assert.equal(body.groups.length, 15);
  const images = tf.randomUniform([3, 40, 40, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
  const resized = tf.image.resizeBilinear(images, [32, 32], false, true);
  const ref = reference(sd, resized).arraySync();
  const out = tf.tidy(() => body.forward(body.params, images, ['fc7']).fc7).arraySync();
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 12; j++) {
      assert.ok(Math.abs(out[i][j] - ref[i][j]) < 1e-3 * (1 + Math.abs(ref[i][j])), `${i},${j}`);
    }
  }
  // Training-mode dropout: seeded (same seed, same masks) and only in training.
  const a = tf.tidy(() => body.forward(body.params, images, ['relu7'], { seed: 3 }).relu7);
  const b = tf.tidy(() => body.forward(body.params, images, ['relu7'], { seed: 3 }).relu7);
  const plain = tf.tidy(() => body.forward(body.params, images, ['relu7']).relu7);
  assert.deepEqual(a.arraySync(), b.arraySync());
  assert.notDeepEqual(a.arraySync(), plain.arraySync());
  tf.dispose([a, b, plain, images, resized, ...body.params.values()]);
});

test('identity bodies: input sizes are checked before any weights are read', async () => {
  await assert.rejects(
    createIdentityBody({ kind: 'facerec', inputSize: 64 }),
    (e) => e instanceof Error && /104/.test(e.message),
  );
  await assert.rejects(
    createIdentityBody({ kind: 'vggface', inputSize: 150 }, '/nonexistent.pth'),
    (e) => e instanceof Error && /224/.test(e.message),
  );
});
