// Each kernel this package adds or replaces for wasm (and the wasm pooling gradients fidlab's
// nets use) against the pure-JS cpu backend on random inputs: forward and every gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { randomArray, seeded } from '../bench/nets.js';
import { maxRelativeError as relErr } from '@fidlab/testing';
import { both } from './compare.js';
import { FAST_KERNELS, cpuThreads, setCpuThreads, setupFastCpu } from '../src/index.js';
import { convGemmTuning } from '../src/kernels/conv-gemm.js';

const TOL = 1e-4;
type Pad = 'same' | 'valid' | number;
const rand = (shape: number[], seed: number) =>
  randomArray(
    shape.reduce((a, b) => a * b, 1),
    seeded(seed),
  );

function check(label: string, pairs: Awaited<ReturnType<typeof both>>, names: string[]) {
  pairs.forEach(({ ref, fast }, i) => {
    assert.deepEqual(fast.shape, ref.shape, `${label} ${names[i]}: shape`);
    const e = relErr(fast.data, ref.data);
    assert.ok(e < TOL, `${label} ${names[i]}: relative error ${e}`);
  });
}

// [x shape, filter shape [kh, kw, in, out], stride, padding]
type S4 = [number, number, number, number];
const CONVS: [S4, S4, number, Pad][] = [
  [[1, 8, 8, 3], [3, 3, 3, 4], 1, 'same'],
  [[2, 9, 9, 3], [3, 3, 3, 5], 1, 'valid'],
  [[3, 10, 10, 4], [4, 4, 4, 6], 2, 'same'], // pix2pix k4 s2 p1
  [[1, 9, 11, 3], [3, 3, 3, 5], 2, 'same'], // odd sizes
  [[2, 11, 7, 4], [3, 3, 4, 6], 2, 'valid'], // stride does not divide: rows left over
  [[2, 8, 8, 4], [1, 1, 4, 6], 1, 'valid'], // 1x1
  [[2, 12, 12, 2], [1, 7, 2, 3], 1, 'same'], // Inception 1x7
  [[1, 7, 7, 2], [5, 5, 2, 3], 3, 'valid'],
  [[2, 1, 1, 8], [4, 4, 8, 4], 2, 'same'], // U-Net bottleneck: 1x1 spatial
  [[2, 4, 4, 16], [3, 3, 16, 8], 2, 'same'], // more taps*channels than pixels: GEMM paths
  [[1, 7, 6, 12], [4, 4, 12, 5], 2, 'same'],
  [[1, 7, 7, 9], [3, 3, 9, 4], 2, 'valid'],
  // 3x3 stride 1 with channels a multiple of 4: Winograd F(2x2, 3x3) (conv-winograd.ts)
  [[2, 7, 9, 4], [3, 3, 4, 8], 1, 'same'], // odd sizes: tiles with one output row / column
  [[1, 8, 6, 8], [3, 3, 8, 12], 1, 'valid'],
  [[3, 5, 4, 12], [3, 3, 12, 4], 1, 'same'], // 4 outputs: GEMM columns padded to 8
  [[1, 3, 3, 4], [3, 3, 4, 4], 1, 'valid'], // one output pixel
  [[2, 1, 1, 4], [3, 3, 4, 8], 1, 'same'], // one input pixel
  [[1, 5, 6, 4], [3, 3, 4, 4], 1, 2], // padded by 2: the input gradient's own padding is 0
  [[1, 6, 7, 4], [3, 3, 4, 8], 1, 3], // padded by 3: the input gradient falls back to GEMM
];

/** conv2d of seeded inputs and its gradients (dx, dW) for a seeded dy: the conv tests' body. */
function convAndGrads([xs, ws, stride, pad]: [S4, S4, number, Pad]): tf.Tensor[] {
  const x = tf.tensor4d(rand(xs, 1), xs);
  const w = tf.tensor4d(rand(ws, 2), ws);
  const f = (a: tf.Tensor, b: tf.Tensor) =>
    tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
  const y = f(x, w);
  const [dx, dw] = tf.grads(f)([x, w], tf.tensor(rand(y.shape, 3), y.shape));
  return [y, dx, dw];
}

for (const [xs, ws, stride, pad] of CONVS) {
  const label = `conv x=${xs} w=${ws} s=${stride} ${pad}`;
  test(`conv2d forward and gradients (dx, dW) match cpu: ${label}`, async () => {
    const pairs = await both(() => convAndGrads([xs, ws, stride, pad]));
    check(label, pairs, ['y', 'dx', 'dW']);
  });

  test(`conv2dTranspose forward and gradients match cpu: ${label}`, async () => {
    // The transposed convolution maps the conv's output shape back to xs.
    const wd = rand(ws, 4);
    const pairs = await both(() => {
      const w = tf.tensor4d(wd, ws);
      const ys = tf.conv2d(tf.zeros(xs) as tf.Tensor4D, w, stride, pad).shape;
      const dy = tf.tensor4d(rand(ys, 5), ys as S4);
      const out = tf.conv2dTranspose(dy, w, xs, stride, pad);
      const g = tf.tensor(rand(xs, 6), xs);
      const [ddy, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, xs, stride, pad),
      )([dy, w], g);
      return [out, ddy, dw];
    });
    check(label, pairs, ['y', 'd input', 'dW']);
  });
}

const ACTS = ['linear', 'relu', 'relu6', 'leakyrelu'] as const;
// Every activation once more with output channels a multiple of 4 (the f32x4 epilogue).
const FUSED: [S4, S4, number, Pad][] = [
  ...CONVS,
  ...ACTS.map((_, i): [S4, S4, number, Pad] => [[2, 6, 5, 3], [3, 3, 3, 8 + 4 * i], 1, 'same']),
];
for (const [i, [xs, ws, stride, pad]] of FUSED.entries()) {
  const activation = ACTS[i % ACTS.length];
  test(`fused conv2d (bias, ${activation}) matches cpu: x=${xs} w=${ws} s=${stride} ${pad}`, async () => {
    const [xd, wd, bd] = [rand(xs, 1), rand(ws, 2), rand([ws[3]], 3)];
    const pairs = await both(() => {
      const x = tf.tensor4d(xd, xs).mul(4) as tf.Tensor4D; // past relu6's cap
      const w = tf.tensor4d(wd, ws);
      const bias = tf.tensor1d(bd);
      if (tf.getBackend() === 'wasm') {
        return [tf.fused.conv2d({ x, filter: w, strides: stride, pad, bias, activation })];
      }
      // The reference unfused: tfjs's cpu backend returns NaN for negative fused leakyrelu.
      const y = tf.add(tf.conv2d(x, w, stride, pad), bias);
      const act = {
        linear: () => y,
        relu: () => tf.relu(y),
        relu6: () => tf.relu6(y),
        leakyrelu: () => tf.leakyRelu(y, 0.2),
      }[activation];
      return [act()];
    });
    check(`fused ${activation}`, pairs, ['y']);
  });
}

test('convolutions cut into chunks (rows of an image, groups of images), GEMMs and gathers shared between threads, match cpu', async () => {
  // By default chunks are 16 MB and small GEMMs stay on one thread: force both paths here.
  const saved = { ...convGemmTuning };
  try {
    // 64: one output row per chunk (Winograd: 4 tiles, one image at a time); 8000: groups of
    // whole images, the last one short.
    // Winograd with 2x2 and 4x4 output tiles (4x4, the default, in the other tests).
    for (const [chunkFloats, batchFloats, winograd] of [
      [64, 64, 2],
      [64, 64, 4],
      [8000, 1200, 2],
      [8000, 1200, 4],
    ] as const)
      for (const [xs, ws, stride, pad] of CONVS) {
        const tuning = { chunkFloats, batchFloats, winograd, parallelFlops: 0, parallelGather: 0 };
        Object.assign(convGemmTuning, tuning);
        const pairs = await both(() => convAndGrads([xs, ws, stride, pad]));
        check(`chunked x=${xs} w=${ws} s=${stride} ${pad}`, pairs, ['y', 'dx', 'dW']);
      }
  } finally {
    Object.assign(convGemmTuning, saved);
  }
});

const MATMULS: [number[], number[], boolean, boolean][] = [
  [[7, 5], [5, 3], false, false],
  [[5, 7], [5, 3], true, false],
  [[7, 5], [3, 5], false, true],
  [[5, 7], [3, 5], true, true],
  [[3, 4, 6], [3, 6, 2], false, false],
  [[3, 6, 4], [3, 2, 6], true, true],
  [[1, 33], [33, 17], false, false], // one row, as in a dense layer with batch 1
  [[2, 50], [40, 50], false, true], // dX = dY W^T with a big W: computed as (W dY^T)^T
  [[50, 40], [50, 2], true, false],
  [[50, 2], [40, 50], true, true],
  [[3, 2, 30], [3, 20, 30], false, true],
];
for (const [as, bs, ta, tb] of MATMULS) {
  test(`matMul and its gradients match cpu: a=${as} b=${bs} ta=${ta} tb=${tb}`, async () => {
    const ad = rand(as, 7);
    const bd = rand(bs, 8);
    const pairs = await both(() => {
      const a = tf.tensor(ad, as);
      const b = tf.tensor(bd, bs);
      const f = (x: tf.Tensor, y: tf.Tensor) =>
        tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb);
      const c = f(a, b);
      const [da, db] = tf.grads(f)([a, b], tf.tensor(rand(c.shape, 9), c.shape));
      return [c, da, db];
    });
    check(`matMul ${as}x${bs}`, pairs, ['c', 'da', 'db']);
  });
}

const POOLS: [S4, number, number, Pad][] = [
  [[2, 8, 8, 3], 2, 2, 'valid'], // VGG
  [[1, 9, 9, 2], 3, 2, 'valid'], // Inception
  [[2, 7, 7, 3], 3, 1, 'same'], // Inception branch avg pool
  [[1, 10, 6, 2], 3, 2, 'same'],
];
for (const [xs, k, stride, pad] of POOLS) {
  test(`maxPool and avgPool gradients match cpu: x=${xs} k=${k} s=${stride} ${pad}`, async () => {
    const xd = rand(xs, 10);
    const pairs = await both(() => {
      const x = tf.tensor4d(xd, xs);
      const mp = (t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, k, stride, pad);
      const ap = (t: tf.Tensor) => tf.avgPool(t as tf.Tensor4D, k, stride, pad);
      const ym = mp(x);
      const g = tf.tensor(rand(ym.shape, 11), ym.shape);
      return [ym, tf.grad(mp)(x, g), ap(x), tf.grad(ap)(x, g)];
    });
    check(`pool ${xs}`, pairs, ['max', 'dmax', 'avg', 'davg']);
  });
}

test('setupFastCpu is idempotent and leaves wasm active with every fast kernel registered', async () => {
  await setupFastCpu();
  await tf.setBackend('cpu');
  await setupFastCpu();
  assert.equal(tf.getBackend(), 'wasm');
  for (const k of FAST_KERNELS) assert.ok(tf.getKernel(k.name, 'wasm'), k.name);
});

const TILES: [number[], number[]][] = [
  [
    [1, 1, 1, 5],
    [2, 3, 4, 1],
  ], // BatchNorm gradient: per-channel values over [n, h, w]
  [
    [2, 3],
    [2, 2],
  ],
  [
    [3, 1, 2],
    [1, 4, 3],
  ],
  [[7], [3]],
];
for (const [xs, reps] of TILES) {
  test(`tile matches cpu: x=${xs} reps=${reps}`, async () => {
    const xd = rand(xs, 12);
    const pairs = await both(() => [tf.tile(tf.tensor(xd, xs), reps)]);
    check(`tile ${xs}`, pairs, ['y']);
  });
}

const REDUCTIONS: [number[], number[], boolean][] = [
  [[2, 5, 6, 3], [0, 1, 2], false], // BatchNorm statistics
  [[2, 5, 6, 3], [0, 1, 2], true],
  [[4, 7], [0], false],
  [[2, 5, 6, 3], [1, 2], false], // not leading: wasm's own kernel
  [[2, 5, 6, 3], [0, 1, 2, 3], false], // everything: wasm's own kernel
];
for (const [xs, axes, keep] of REDUCTIONS) {
  test(`sum and mean match cpu: x=${xs} axes=${axes} keepDims=${keep}`, async () => {
    const xd = rand(xs, 13);
    const pairs = await both(() => {
      const x = tf.tensor(xd, xs);
      return [tf.sum(x, axes, keep), tf.mean(x, axes, keep)];
    });
    check(`reduce ${xs}`, pairs, ['sum', 'mean']);
  });
}

const CONCATS: [number[][], number][] = [
  [
    [
      [2, 3, 4, 5],
      [2, 3, 4, 7],
    ],
    3,
  ], // U-Net skip
  [
    [
      [1, 2, 2, 64],
      [1, 2, 2, 70],
      [1, 2, 2, 3],
    ],
    3,
  ], // long rows
  [
    [
      [2, 3],
      [4, 3],
    ],
    0,
  ],
  [
    [
      [2, 3, 4],
      [2, 1, 4],
    ],
    1,
  ],
];
CONCATS.push([
  [
    [3, 100],
    [3, 70],
    [3, 2],
  ],
  1,
]); // runs of >= 64 floats: copied by copyWithin
for (const [shapes, axis] of CONCATS) {
  test(`concat and its gradient match cpu: ${shapes.map((s) => `[${s}]`).join(' ')} axis ${axis}`, async () => {
    const data = shapes.map((s, i) => rand(s, 20 + i));
    const pairs = await both(() => {
      const xs = shapes.map((s, i) => tf.tensor(data[i], s));
      const y = tf.concat(xs, axis);
      const g = tf.grads((...a: tf.Tensor[]) => tf.concat(a, axis))(
        xs,
        tf.tensor(rand(y.shape, 30), y.shape),
      );
      return [y, ...g];
    });
    check(`concat`, pairs, ['y', ...shapes.map((_, i) => `d${i}`)]);
  });
}

// Sizes with and without a tail past the last 4 floats; alphas at the ends of [0, 1] too.
for (const [shape, alpha] of [
  [[2, 5, 5, 8], 0.2],
  [[3, 7], 0.2],
  [[1, 3], 0.01],
  [[4, 4, 4, 4], 0],
  [[5, 3], 1],
] as [number[], number][]) {
  test(`leakyRelu (alpha ${alpha}) and its gradient match cpu: [${shape}]`, async () => {
    const xd = rand(shape, 40).map((v, i) => (i % 7 === 0 ? 0 : v)); // zeros: the kink
    const pairs = await both(() => {
      const x = tf.tensor(xd, shape);
      const y = tf.leakyRelu(x, alpha);
      const [dx] = tf.grads((a: tf.Tensor) => tf.leakyRelu(a, alpha))(
        [x],
        tf.tensor(rand(shape, 41), shape),
      );
      return [y, dx];
    });
    check(`leakyRelu ${alpha}`, pairs, ['y', 'dx']);
  });
}

test('tanh and its gradient match cpu, from tiny inputs to saturation, NaN kept', async () => {
  const xs = [0, 1e-8, -3e-5, 0.01, -0.3, 0.9, 2.5, -4, 7.9, 9, -30, 200, ...rand([45], 42)];
  const pairs = await both(() => {
    const x = tf.tensor1d(xs.map((v, i) => (i >= 12 ? v * 6 : v)));
    const [dx] = tf.grads((a: tf.Tensor) => tf.tanh(a))([x], tf.onesLike(x));
    return [tf.tanh(x), dx];
  });
  check('tanh', pairs, ['y', 'dx']);
  // Relative to each value, not to the largest (tanh(1e-8) must stay 1e-8).
  for (const [i, v] of pairs[0].fast.data.entries()) {
    const ref = pairs[0].ref.data[i];
    assert.ok(Math.abs(v - ref) <= 1e-6 * Math.abs(ref) + 1e-12, `tanh(${xs[i]}): ${v} vs ${ref}`);
  }
  const nan = await both(() => [tf.tanh(tf.tensor1d([NaN, 1, 2, 3]))]);
  assert.ok(Number.isNaN(nan[0].fast.data[0]));
});

test('convolution results are the same bits on 1 thread and on 3', async () => {
  await setupFastCpu();
  const saved = { ...convGemmTuning };
  const before = cpuThreads();
  Object.assign(convGemmTuning, { parallelFlops: 0, parallelGather: 0 });
  const run = () =>
    CONVS.flatMap((c) => tf.tidy(() => convAndGrads(c).map((t) => Array.from(t.dataSync()))));
  try {
    setCpuThreads(1);
    const one = run();
    setCpuThreads(3);
    const three = run();
    assert.deepEqual(three, one);
  } finally {
    Object.assign(convGemmTuning, saved);
    setCpuThreads(before);
  }
});

for (const m of [4, 2] as const) {
  test(`3x3 stride 1 convolutions and their input gradients go through Winograd F(${m}x${m}, 3x3): within 1e-5 of im2col + GEMM, not the same bits`, async () => {
    await setupFastCpu();
    const saved = { ...convGemmTuning };
    // VGG-like: 64 channels in and out, sizes that leave partial tiles at the right and bottom.
    const xs: S4 = [2, 11, 13, 64];
    const ws: S4 = [3, 3, 64, 64];
    const run = () =>
      tf.tidy(() => {
        const w = tf.tensor4d(rand(ws, 8), ws);
        const f = (x: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w, 1, 'same');
        const x = tf.tensor4d(rand(xs, 7), xs);
        const y = f(x);
        const dx = tf.grad(f)(x, tf.tensor(rand(y.shape, 9), y.shape));
        return [y.dataSync(), dx.dataSync()] as Float32Array[];
      });
    try {
      convGemmTuning.winograd = m;
      const wino = run();
      convGemmTuning.winograd = 0;
      const gemm = run();
      ['y', 'dx'].forEach((name, i) => {
        const e = relErr(wino[i], gemm[i]);
        assert.ok(e < 1e-5, `${name}: relative error ${e}`);
        const same = wino[i].filter((v, j) => v === gemm[i][j]).length;
        assert.ok(same < 0.5 * wino[i].length, `${name}: ${same} of ${wino[i].length} equal`);
      });
    } finally {
      Object.assign(convGemmTuning, saved);
    }
  });
}
