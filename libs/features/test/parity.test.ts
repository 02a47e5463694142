// Parity with PyTorch: the same architectures built in PyTorch (torch_reference.py), random
// weights saved as .pth state_dicts the way the published files are, features of the same
// images from both. Needs Debian's python3-torch + python3-torchvision (skips without them,
// fails without them in CI).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeImage } from '@fidlab/datasets';
import { parseNpy } from '@fidlab/base';
import { frechetDistance, type Matrix } from '@fidlab/fid-core';
import {
  INCEPTION_DIMS,
  loadFidInception,
  loadVggFace,
  VGGFACE_TAPS,
  type VggFaceTap,
} from '@fidlab/models';
import { createExtractor, folderFeatures, type FeatureExtractor } from '../src/index.js';
import { vggFaceExtractor } from '../src/families.js';
import { pythonSkip, relativeError } from '@fidlab/testing';
import { runReference, TORCH, useWasm, writeImages } from './helpers.js';

const skip = pythonSkip(TORCH);
/** Relative error allowed between fidlab's float32 features and PyTorch's (norm-wise). */
const FEATURE_RTOL = 1e-4;

// Two folders of differently sized images (all resized to the network's input size).
const SIZES_A: Array<[number, number]> = [
  [64, 48],
  [100, 100],
  [37, 53],
  [80, 80],
];
const SIZES_B: Array<[number, number]> = [
  [72, 72],
  [50, 90],
  [128, 96],
];

function readNpyMatrix(path: string): Matrix {
  const a = parseNpy(new Uint8Array(readFileSync(path)), path);
  return { rows: a.shape[0], cols: a.shape[1], data: Float64Array.from(a.data) };
}

function rowsOf(m: Matrix, start: number, count: number): Float64Array {
  return m.data.subarray(start * m.cols, (start + count) * m.cols);
}

describe('PyTorch parity', { skip }, () => {
  let dir: string;
  let dirA: string;
  let dirB: string;
  let images: string[];

  before(async () => {
    await useWasm();
    dir = mkdtempSync(join(tmpdir(), 'fidlab-parity-'));
    process.env.FIDLAB_WEIGHTS = join(dir, 'cache'); // converted weights go here, not to ~/.cache
    dirA = join(dir, 'a');
    dirB = join(dir, 'b');
    images = [...(await writeImages(dirA, SIZES_A, 1)), ...(await writeImages(dirB, SIZES_B, 2))];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('inception: pool3 and the 64/192/768 taps match PyTorch; folder FID matches float64 FID', async (t) => {
    const weights = join(dir, 'pt_inception.pth');
    // pytorch-fid's file predates torch 1.6: the legacy (non-zip) format.
    runReference(['weights', '--arch', 'inception', '--seed', '3', '--legacy', '--out', weights]);
    const [imagesA, imagesB] = [images.slice(0, SIZES_A.length), images.slice(SIZES_A.length)];
    runReference([
      'features',
      '--arch',
      'inception',
      '--weights',
      weights,
      '--out',
      join(dir, 'incA'),
      ...imagesA,
    ]);
    runReference([
      'features',
      '--arch',
      'inception',
      '--weights',
      weights,
      '--out',
      join(dir, 'incB'),
      ...imagesB,
    ]);
    const net = await loadFidInception(weights); // converts and caches
    // Every tap from one forward pass per batch, side by side: [n, 64 + 192 + 768 + 2048].
    const allTaps: FeatureExtractor = {
      name: 'inception:all',
      dims: INCEPTION_DIMS.reduce((s, d) => s + d, 0),
      inputSize: 299,
      extract: (x) =>
        tf.tidy(() => {
          const t = net.taps(x, [...INCEPTION_DIMS]);
          return tf.concat(
            INCEPTION_DIMS.map((d) => t[d]!),
            1,
          );
        }),
      dispose: () => {},
    };
    try {
      const a = await folderFeatures(dirA, allTaps, { batchSize: 3 });
      const b = await folderFeatures(dirB, allTaps, { batchSize: 3 });
      let offset = 0;
      const pool3: Matrix[] = [];
      for (const dims of INCEPTION_DIMS) {
        const cols = (m: Matrix): Matrix => ({
          rows: m.rows,
          cols: dims,
          data: Float64Array.from(
            { length: m.rows * dims },
            (_, i) => m.data[Math.floor(i / dims) * m.cols + offset + (i % dims)],
          ),
        });
        const [ta, tb] = [cols(a), cols(b)];
        offset += dims;
        const refA = readNpyMatrix(join(dir, 'incA', `${dims}.npy`));
        const refB = readNpyMatrix(join(dir, 'incB', `${dims}.npy`));
        assert.deepEqual([refA.rows, refA.cols, refB.rows], [SIZES_A.length, dims, SIZES_B.length]);
        const errA = relativeError(ta.data, refA.data);
        const errB = relativeError(tb.data, refB.data);
        t.diagnostic(
          `inception:${dims} relative error ${errA.toExponential(1)}, ${errB.toExponential(1)}`,
        );
        assert.ok(
          errA < FEATURE_RTOL && errB < FEATURE_RTOL,
          `inception:${dims} rel err ${errA}, ${errB}`,
        );
        if (dims === 2048) pool3.push(ta, tb);
      }
      // FID from the image folders vs the float64 FID of PyTorch's features.
      const fid = frechetDistance(pool3[0], pool3[1]).fid;
      const refFid = JSON.parse(
        runReference(['fid', join(dir, 'incA', '2048.npy'), join(dir, 'incB', '2048.npy')]),
      ) as { fid: number };
      const fidErr = Math.abs(fid - refFid.fid) / refFid.fid;
      t.diagnostic(
        `FID ${fid} vs PyTorch float64 ${refFid.fid} (relative ${fidErr.toExponential(1)})`,
      );
      assert.ok(fidErr < 1e-4, `FID ${fid} vs ${refFid.fid}`);
    } finally {
      net.dispose();
    }
  });

  test('vggface: every tap matches PyTorch (pool5 and conv5_3 in NCHW flatten order)', async (t) => {
    const weights = join(dir, 'vgg_face_dag.pth');
    runReference(['weights', '--arch', 'vggface', '--seed', '4', '--out', weights]);
    const imagesA = images.slice(0, SIZES_A.length);
    runReference([
      'features',
      '--arch',
      'vggface',
      '--weights',
      weights,
      '--out',
      join(dir, 'vgg'),
      ...imagesA,
    ]);
    const net = await loadVggFace(weights); // a zip-format .pth, as torch >= 1.6 writes
    const tapNames = Object.keys(VGGFACE_TAPS) as VggFaceTap[];
    try {
      // All taps of the first 3 images, each at its own size (resized inside the network).
      const got = new Map<VggFaceTap, number[]>(tapNames.map((tap) => [tap, []]));
      for (const path of imagesA.slice(0, 3)) {
        const img = await decodeImage(path);
        const x = tf.tensor4d(
          Float32Array.from(img.data, (v) => v / 255),
          [1, img.height, img.width, 3],
        );
        const taps = net.taps(x, tapNames);
        for (const tap of tapNames) {
          got.get(tap)!.push(...(taps[tap]!.dataSync() as Float32Array));
        }
        tf.dispose([x, ...Object.values(taps)]);
      }
      for (const tap of tapNames) {
        const ref = readNpyMatrix(join(dir, 'vgg', `${tap}.npy`));
        assert.equal(ref.cols, VGGFACE_TAPS[tap]);
        const err = relativeError(got.get(tap)!, rowsOf(ref, 0, 3));
        t.diagnostic(`vggface:${tap} relative error ${err.toExponential(1)}`);
        assert.ok(err < FEATURE_RTOL, `vggface:${tap} rel err ${err}`);
      }
      // fc6 through folderFeatures (each image resized to 224 before batching).
      const fc6 = await folderFeatures(dirA, vggFaceExtractor(net, 'fc6'), { batchSize: 4 });
      const err = relativeError(fc6.data, readNpyMatrix(join(dir, 'vgg', 'fc6.npy')).data);
      t.diagnostic(`vggface:fc6 through folderFeatures: relative error ${err.toExponential(1)}`);
      assert.ok(err < FEATURE_RTOL, `vggface:fc6 from the folder: rel err ${err}`);
    } finally {
      net.dispose();
    }
  });

  test('createExtractor reads the cached conversion and gives the same features', async () => {
    const converted = readdirSync(join(dir, 'cache', 'converted'));
    assert.ok(converted.some((f) => /^inception-tfjs-v1-[0-9a-f]{16}\.safetensors$/.test(f)));
    const ext = await createExtractor('inception-pool3', {
      weights: join(dir, 'pt_inception.pth'),
    });
    try {
      assert.equal(ext.name, 'inception:2048');
      assert.equal(ext.dims, 2048);
      const b = await folderFeatures(dirB, ext);
      const err = relativeError(b.data, readNpyMatrix(join(dir, 'incB', '2048.npy')).data);
      assert.ok(err < FEATURE_RTOL, `rel err ${err}`);
    } finally {
      ext.dispose();
    }
  });
});
