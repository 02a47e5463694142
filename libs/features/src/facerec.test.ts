import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { isFidlabError } from '@fidlab/base';
import { defaultFacerecManifest, facerecPreprocess, loadWeightsManifest } from '@fidlab/models';
import { createFacerecExtractor } from './facerec.js';
import { createExtractor, knownExtractors } from './registry.js';

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

test('facerec: 128-d raw descriptors equal face-api own computation (<1e-5 relative)', async () => {
  // face-api's node-wasm bundle runs its own FaceRecognitionNet on plain tfjs, offline.
  const require = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as any;
  const ftf = faceapi.tf as typeof tf;
  await ftf.setBackend('cpu');
  const dir = path.dirname(defaultFacerecManifest());
  const manifest = JSON.parse(await readFile(defaultFacerecManifest(), 'utf8'));
  const bin = await readFile(path.join(dir, 'face_recognition_model.bin'));
  const net = new faceapi.FaceRecognitionNet();
  net.loadFromWeightMap(
    ftf.io.decodeWeights(
      bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length),
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      manifest.flatMap((g: any) => g.weights),
    ),
  );

  const ex = await createFacerecExtractor();
  assert.equal(ex.name, 'facerec');
  assert.equal(ex.dims, 128);
  // A non-square batch exercises face-api's centred pad-to-square and the bilinear resize;
  // 150x150 skips both.
  for (const [h, w] of [
    [120, 97],
    [150, 150],
  ]) {
    const images = tf.randomUniform([2, h, w, 3], 0, 1, 'float32', h) as tf.Tensor4D;
    const mine = ex.extract(images);
    assert.deepEqual(mine.shape, [2, 128]);
    const ours = mine.arraySync();
    const pixels = images.arraySync();
    for (let i = 0; i < 2; i++) {
      const x = ftf.mul(ftf.tensor3d(pixels[i]), 255);
      const ref = net.forwardInput(await faceapi.toNetInput(x)).dataSync() as Float32Array;
      assert.ok(relErr(ours[i], ref) < 1e-5, `image ${i} at ${h}x${w}: ${relErr(ours[i], ref)}`);
      // face-api does not L2-normalise, neither do we.
      const norm = Math.hypot(...ours[i]);
      assert.ok(Math.abs(norm - 1) > 1e-3, `norm ${norm}`);
      x.dispose();
    }
    images.dispose();
    mine.dispose();
  }
  ex.dispose();
});

test('facerec: deterministic, batch-independent, and pool layer is 256-d', async () => {
  assert.ok(knownExtractors().includes('facerec'));
  assert.ok(knownExtractors().includes('generator:<checkpoint-dir>:<tap>'));
  assert.ok(knownExtractors().includes('identity:<checkpoint-dir>:<layer>'));
  const ex = await createExtractor('facerec:pool');
  assert.equal(ex.name, 'facerec:pool');
  assert.equal(ex.dims, 256);
  const images = tf.randomUniform([3, 150, 150, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const all = ex.extract(images).arraySync();
  const one = ex.extract(images.slice([1, 0, 0, 0], [1, 150, 150, 3])).arraySync();
  assert.deepEqual(all[0].length, 256);
  assert.ok(relErr(one[0], all[1]) < 1e-6);
  assert.deepEqual(ex.extract(images).arraySync(), all);
  ex.dispose();
  await assert.rejects(
    createExtractor('facerec:fc9'),
    (e) => isFidlabError(e) && /facerec:fc9/.test(e.message),
  );
  await assert.rejects(
    createExtractor('generator:en7'),
    (e) => isFidlabError(e) && e.code === 'INVALID_CONFIG' && /<checkpoint-dir>/.test(e.message),
  );
  await assert.rejects(
    createExtractor('identity:/nonexistent/epoch-0001:fc7'),
    (e) => isFidlabError(e) && e.code === 'FILE_NOT_FOUND' && /identity\.json/.test(e.message),
  );
});

test('facerecPreprocess: centred black padding, 0-255 minus mean, over 255', () => {
  // 2x1 image -> pads one column, after the image (round(1/2) = 1 after, 0 before), then 150x150.
  const img = tf.tensor4d([1, 1, 1, 0, 0, 0], [1, 2, 1, 3]);
  const x = facerecPreprocess(img, 2).arraySync()[0];
  const mean = [122.782, 117.001, 104.298];
  const expect = (v: number, c: number) => (v - mean[c]) / 255;
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(x[0][0][c] - expect(255, c)) < 1e-6);
    assert.ok(Math.abs(x[0][1][c] - expect(0, c)) < 1e-6); // padding is black
    assert.ok(Math.abs(x[1][0][c] - expect(0, c)) < 1e-6);
  }
});

test('loadWeightsManifest: dequantises uint8/float16/float32 and rejects bad files', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fidlab-manifest-'));
  try {
    const manifest = [
      {
        paths: ['a.bin'],
        weights: [
          {
            name: 'q',
            shape: [2],
            dtype: 'float32',
            quantization: { dtype: 'uint8', scale: 0.5, min: -1 },
          },
          { name: 'h', shape: [1], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'f', shape: [1], dtype: 'float32' },
        ],
      },
    ];
    const bytes = Buffer.alloc(2 + 2 + 4);
    bytes[0] = 0;
    bytes[1] = 10;
    bytes.writeUInt16LE(0xc100, 2); // -2.5 in IEEE half
    bytes.writeFloatLE(3.25, 4);
    await writeFile(path.join(dir, 'a.bin'), bytes);
    await writeFile(path.join(dir, 'x-weights_manifest.json'), JSON.stringify(manifest));
    const w = await loadWeightsManifest(dir);
    assert.deepEqual([...w.get('q')!.data], [-1, 4]);
    assert.deepEqual([...w.get('h')!.data], [-2.5]);
    assert.deepEqual([...w.get('f')!.data], [3.25]);

    // Too few bytes for what the manifest lists.
    await writeFile(path.join(dir, 'a.bin'), bytes.subarray(0, 6));
    await assert.rejects(
      loadWeightsManifest(dir),
      (e) => isFidlabError(e) && e.code === 'BAD_FILE_FORMAT' && /needs bytes/.test(e.message),
    );
    // A valid manifest of another network: names the missing layer.
    await writeFile(path.join(dir, 'a.bin'), bytes);
    await assert.rejects(
      createFacerecExtractor({ weights: dir }),
      (e) => isFidlabError(e) && e.code === 'BAD_FILE_FORMAT' && /conv32_down/.test(e.message),
    );
    await assert.rejects(
      loadWeightsManifest(path.join(dir, 'nope.json')),
      (e) => isFidlabError(e) && e.code === 'FILE_NOT_FOUND',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
