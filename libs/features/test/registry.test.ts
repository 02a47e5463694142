import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  foldBatchNorm,
  INCEPTION_PARAMETERS,
  oihwToHwio,
  VGGFACE_PARAMETERS,
  VGGFACE_TAPS,
} from '@fidlab/models';
import {
  createExtractor,
  folderFeatures,
  knownExtractors,
  type FeatureExtractor,
} from '../src/index.js';
import { useWasm, writeImages } from './helpers.js';

function throwsCode(fn: () => Promise<unknown>, code: ErrorCode, re: RegExp) {
  return assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof FidlabError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

test('parameter counts are those of the published networks', () => {
  assert.equal(INCEPTION_PARAMETERS, 23_850_960);
  assert.equal(VGGFACE_PARAMETERS, 145_002_878);
  assert.equal(VGGFACE_TAPS.pool5, 25088);
});

test('knownExtractors lists every inception dim, every vggface tap and the alias', () => {
  const names = knownExtractors();
  for (const n of ['inception', 'inception:64', 'inception:192', 'inception:768', 'inception:2048'])
    assert.ok(names.includes(n), n);
  for (const t of ['conv5_3', 'pool5', 'pool5-avg', 'fc6', 'relu6', 'fc7', 'relu7'])
    assert.ok(names.includes(`vggface:${t}`), t);
  assert.ok(names.includes('inception-pool3'));
});

test('unknown names and arguments fail before any weights are read', async () => {
  await throwsCode(
    () => createExtractor('resnet50'),
    ErrorCode.INVALID_CONFIG,
    /unknown feature extractor 'resnet50'; known: inception, inception:64/,
  );
  await throwsCode(
    () => createExtractor('inception:100'),
    ErrorCode.INVALID_CONFIG,
    /unknown extractor 'inception:100': the dims must be one of 64, 192, 768, 2048/,
  );
  await throwsCode(
    () => createExtractor('vggface:fc8'),
    ErrorCode.INVALID_CONFIG,
    /the layer must be one of conv5_3, pool5, pool5-avg, fc6/,
  );
});

test('missing weights: FILE_NOT_FOUND with how to get them', async () => {
  const saved = process.env.FIDLAB_WEIGHTS;
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-noweights-'));
  process.env.FIDLAB_WEIGHTS = dir;
  try {
    await throwsCode(
      () => createExtractor('inception'),
      ErrorCode.FILE_NOT_FOUND,
      /fidlab weights fetch inception/,
    );
    await throwsCode(
      () => createExtractor('vggface:fc6', { weights: join(dir, 'nope.pth') }),
      ErrorCode.FILE_NOT_FOUND,
      /nope\.pth/,
    );
  } finally {
    if (saved === undefined) delete process.env.FIDLAB_WEIGHTS;
    else process.env.FIDLAB_WEIGHTS = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OIHW -> HWIO with BatchNorm folded, worked by hand', () => {
  // 2 output channels, 1 input channel, 1 x 2 kernel.
  const w = { shape: [2, 1, 1, 2], dtype: 'float32', data: Float32Array.from([1, 2, 3, 4]) };
  const hwio = oihwToHwio(w, Float64Array.from([10, 100]));
  assert.deepEqual(hwio.shape, [1, 2, 1, 2]);
  assert.deepEqual([...hwio.data], [10, 300, 20, 400]); // [y][x][i][o]
  const bn = (data: number[]) => ({ shape: [2], dtype: 'float32', data: Float32Array.from(data) });
  const sd = new Map([
    ['bn.weight', bn([2, 3])],
    ['bn.bias', bn([1, -1])],
    ['bn.running_mean', bn([0.5, 2])],
    ['bn.running_var', bn([3, 8])],
  ]);
  const { scale, shift } = foldBatchNorm(sd, 'bn', 1);
  assert.deepEqual([...scale], [1, 1]); // gamma / sqrt(var + 1)
  assert.deepEqual([...shift], [0.5, -3]); // beta - mean * scale
});

test('folderFeatures: sorted order, batches of mixed sizes, progress, resize to inputSize', async () => {
  await useWasm();
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-folder-'));
  try {
    await writeImages(
      dir,
      [
        [20, 10],
        [7, 9],
        [16, 16],
        [5, 30],
        [12, 12],
      ],
      5,
    );
    // A fake extractor: the mean of each channel and the image's side.
    const seen: number[][] = [];
    const ext: FeatureExtractor = {
      name: 'mean',
      dims: 4,
      inputSize: 8,
      extract: (x) => {
        seen.push(x.shape);
        return tf.tidy(() =>
          tf.concat([tf.mean(x, [1, 2]), tf.fill([x.shape[0], 1], x.shape[1])], 1),
        ) as tf.Tensor2D;
      },
      dispose: () => {},
    };
    const progress: string[] = [];
    const f = await folderFeatures(dir, ext, {
      batchSize: 2,
      onProgress: (d, t) => progress.push(`${d}/${t}`),
    });
    // Batches may finish out of order (the next one decodes while one runs).
    assert.deepEqual(seen.map((s) => s.join('x')).sort(), ['1x8x8x3', '2x8x8x3', '2x8x8x3']);
    assert.equal(progress[0], '0/5');
    assert.equal(progress.at(-1), '5/5');
    assert.equal(progress.length, 4);
    assert.equal(f.rows, 5);
    for (let r = 0; r < 5; r++) {
      assert.equal(f.data[r * 4 + 3], 8);
      for (let c = 0; c < 3; c++) assert.ok(f.data[r * 4 + c] > 0 && f.data[r * 4 + c] < 1);
    }
    // No inputSize: equal-sized neighbours share a batch, the rest go alone.
    seen.length = 0;
    const g = await folderFeatures(dir, { ...ext, inputSize: undefined }, { batchSize: 5 });
    assert.deepEqual(
      seen.map((s) => s.slice(0, 3)), // one batch of 5: its runs go in order
      [
        [1, 10, 20],
        [1, 9, 7],
        [1, 16, 16],
        [1, 30, 5],
        [1, 12, 12],
      ],
    );
    assert.deepEqual(
      Array.from({ length: 5 }, (_, r) => g.data[r * 4 + 3]),
      [10, 9, 16, 30, 12],
    );
    await throwsCode(
      () => folderFeatures(join(dir, 'nope'), ext),
      ErrorCode.FILE_NOT_FOUND,
      /nope: no such folder/,
    );
    // A damaged file fails the run, naming the file (no silently skipped rows).
    writeFileSync(join(dir, 'img_002.png'), Buffer.from('not a png'));
    await throwsCode(
      () => folderFeatures(dir, ext),
      ErrorCode.BAD_FILE_FORMAT,
      /img_002\.png is (not a readable image|corrupt)/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
