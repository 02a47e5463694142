// fidlab's fused kernels on wasm (FidlabAdam, FidlabBatchNormTrain and its gradient) against the
// tfjs ops they replace, run on the pure-JS cpu backend. Shapes include sizes that are not a
// multiple of 4 (the kernels' JS tails) and channel counts that are not (their SIMD patterns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ParamSet } from '@fidlab/models';
import { Adam, ADAM_EPS } from '@fidlab/training';
import { randomArray, seeded } from '../bench/nets.js';
import { maxRelativeError as relErr } from '@fidlab/testing';
import { both } from './compare.js';
import {
  ADAM_KERNEL,
  BATCH_NORM_TRAIN_GRAD_KERNEL,
  BATCH_NORM_TRAIN_KERNEL,
  FAST_CPU_BACKEND,
  setupFastCpu,
} from '../src/index.js';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number, scale = 1) =>
  randomArray(size(shape), seeded(seed), scale);

type Pairs = Awaited<ReturnType<typeof both>>;
function check(label: string, pairs: Pairs, names: string[], tol: number) {
  assert.equal(pairs.length, names.length, `${label}: outputs`);
  pairs.forEach(({ ref, fast }, i) => {
    assert.deepEqual(fast.shape, ref.shape, `${label} ${names[i]}: shape`);
    const e = relErr(fast.data, ref.data);
    assert.ok(e < tol, `${label} ${names[i]}: relative error ${e}`);
  });
}

const onWasm = () => tf.getBackend() === FAST_CPU_BACKEND;

// ---- Adam ----

const ADAM_TOL = 1e-5;
const ADAM_SHAPES = [[1], [7], [33], [2, 3, 4, 5], [4, 4, 3, 7], [3, 1, 1, 5]];
const ADAM_STEPS = 5;
const HYPER = { lr: 0.05, beta1: 0.5, beta2: 0.999, eps: ADAM_EPS };

/** Gradient of step t: random, with exact zeros (a parameter off the path: v stays 0). */
function gradData(shape: number[], t: number): Float32Array {
  const g = rand(shape, 100 + t);
  for (let i = 1; i < g.length; i += 3) g[i] = 0;
  return g;
}

/** The update as tfjs ops: @fidlab/training's Adam without its fused kernel. */
function adamOps(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, step: number) {
  const { lr, beta1, beta2, eps } = HYPER;
  const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
  const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
  const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(1 - beta2 ** step)), eps);
  const p1 = tf.sub(p, tf.mul(tf.div(m1, denom), lr / (1 - beta1 ** step)));
  return [p1, m1, v1];
}

for (const shape of ADAM_SHAPES) {
  test(`${ADAM_KERNEL} on wasm matches the ops on cpu over ${ADAM_STEPS} steps: [${shape}]`, async () => {
    const p0 = rand(shape, 1, 0.5);
    // [param, m, v] after every step, and the total displacement of the parameter.
    const run = () => {
      let state = [tf.tensor(p0, shape), tf.zeros(shape), tf.zeros(shape)];
      const out: tf.Tensor[] = [];
      for (let t = 1; t <= ADAM_STEPS; t++) {
        const [p, m, v] = state;
        const grad = tf.tensor(gradData(shape, t), shape);
        state = onWasm()
          ? (tf
              .engine()
              .runKernel(
                ADAM_KERNEL,
                { param: p, grad, m, v },
                { ...HYPER, step: t },
              ) as tf.Tensor[])
          : adamOps(p, grad, m, v, t);
        out.push(...state);
      }
      return [...out, tf.sub(state[0], tf.tensor(p0, shape))];
    };
    const names = Array.from({ length: ADAM_STEPS }, (_, t) =>
      ['param', 'm', 'v'].map((n) => `${n} after step ${t + 1}`),
    ).flat();
    check(`adam [${shape}]`, await both(run), [...names, 'displacement'], ADAM_TOL);
  });
}

test(`${ADAM_KERNEL} gives the same bits as the ops on wasm (float32, same order of operations)`, async () => {
  await setupFastCpu();
  for (const shape of ADAM_SHAPES) {
    const outs = tf.tidy(() => {
      const [p, grad, m, r] = [1, 2, 3, 4].map((seed) => tf.tensor(rand(shape, seed), shape));
      const v = tf.abs(r); // a second moment is >= 0
      const step = 3;
      const fused = tf
        .engine()
        .runKernel(ADAM_KERNEL, { param: p, grad, m, v }, { ...HYPER, step });
      return [...(fused as tf.Tensor[]), ...adamOps(p, grad, m, v, step)];
    });
    const data = outs.map((t) => t.dataSync());
    tf.dispose(outs);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(data[i], data[3 + i], `[${shape}] ${['param', 'm', 'v'][i]}`);
    }
  }
});

/** @fidlab/training's Adam over ADAM_STEPS steps: parameters, then moments. */
function trainingAdam(): tf.Tensor[] {
  const shapes = [[4, 4, 3, 8], [8], [5, 3]];
  const set = new ParamSet();
  shapes.forEach((s, i) => set.params.set(`w${i}`, tf.variable(tf.tensor(rand(s, i, 0.5), s))));
  const opt = new Adam(set, HYPER.beta1, HYPER.beta2);
  const vars = set.trainable();
  for (let t = 1; t <= ADAM_STEPS; t++) {
    const grads = Object.fromEntries(
      vars.map((v, i) => [v.name, tf.tensor(gradData(v.shape, 10 * t + i), v.shape)]),
    );
    opt.apply(grads, HYPER.lr);
    tf.dispose(grads);
  }
  const out = [...vars.map((v) => v.clone()), ...opt.tensors().map(([, t]) => t.clone())];
  set.dispose();
  opt.dispose();
  return out;
}

test(`@fidlab/training's Adam on wasm (${ADAM_KERNEL}) matches its ops on cpu`, async () => {
  const names = ['w0', 'w1', 'w2', 'm0', 'v0', 'm1', 'v1', 'm2', 'v2'];
  check('Adam class', await both(trainingAdam), names, ADAM_TOL);
});

test(`@fidlab/training's Adam runs one ${ADAM_KERNEL} per parameter on wasm`, async () => {
  await setupFastCpu();
  const set = new ParamSet();
  set.params.set('w', tf.variable(tf.zeros([3, 2]))).set('b', tf.variable(tf.zeros([2])));
  const opt = new Adam(set, HYPER.beta1, HYPER.beta2);
  const grads = Object.fromEntries(set.trainable().map((v) => [v.name, tf.onesLike(v)]));
  const prof = await tf.profile(() => opt.apply(grads, HYPER.lr));
  assert.deepEqual(
    prof.kernels.map((k) => k.name),
    [ADAM_KERNEL, ADAM_KERNEL],
  );
  tf.dispose(grads);
  set.dispose();
  opt.dispose();
});

// ---- BatchNorm ----

const BN_TOL = 1e-4;
const BN_EPS = 1e-5;
type S4 = [number, number, number, number];
const BN_SHAPES: { shape: S4; offset?: number }[] = [
  { shape: [2, 5, 6, 3] },
  { shape: [1, 4, 4, 8] }, // batch 1
  { shape: [4, 1, 1, 16] }, // 1x1 spatial (U-Net bottleneck)
  { shape: [1, 3, 1, 2] },
  { shape: [3, 7, 5, 33] }, // odd sizes
  { shape: [2, 6, 6, 4], offset: 30 }, // mean far from 0 against the spread
];

/** y, mean and biased variance: the fused kernel on wasm, tf.moments + tf.batchNorm on cpu. */
function bnTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor[] {
  if (onWasm()) {
    return tf
      .engine()
      .runKernel(BATCH_NORM_TRAIN_KERNEL, { x, gamma, beta }, { eps: BN_EPS }) as tf.Tensor[];
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return [tf.batchNorm(x, mean, variance, beta, gamma, BN_EPS), mean, variance];
}

/** Which outputs the loss uses: the others get zero upstream gradients. */
const USES: [string, boolean, boolean, boolean][] = [
  ['y, mean and variance', true, true, true],
  ['y only', true, false, false],
  ['mean and variance only', false, true, true],
];

for (const { shape, offset = 0 } of BN_SHAPES) {
  const c = shape[3];
  const label = `[${shape}]${offset ? ` + ${offset}` : ''}`;
  test(`${BATCH_NORM_TRAIN_KERNEL} forward on wasm matches tf.moments + tf.batchNorm on cpu: ${label}`, async () => {
    const xd = rand(shape, 1).map((v) => v * 2 + offset);
    const gd = rand([c], 2);
    const bd = rand([c], 3);
    const pairs = await both(() =>
      bnTrain(tf.tensor4d(xd, shape), tf.tensor1d(gd), tf.tensor1d(bd)),
    );
    check(`bn ${label}`, pairs, ['y', 'mean', 'variance'], BN_TOL);
  });

  for (const [uses, useY, useMean, useVar] of USES) {
    // Without y, gamma and beta are off the path (tf.grads refuses them on cpu): x only.
    const wrt = useY ? ['dx', 'dgamma', 'dbeta'] : ['dx'];
    test(`${BATCH_NORM_TRAIN_KERNEL} gradients (${wrt}) through ${uses} match cpu: ${label}`, async () => {
      const xd = rand(shape, 4).map((v) => v * 2 + offset);
      const gd = rand([c], 5);
      const bd = rand([c], 6);
      const pairs = await both(() => {
        const wy = tf.tensor4d(rand(shape, 7), shape);
        const wm = tf.tensor1d(rand([c], 8));
        const wv = tf.tensor1d(rand([c], 9));
        const gamma = tf.tensor1d(gd);
        const beta = tf.tensor1d(bd);
        const loss = (x: tf.Tensor, g: tf.Tensor = gamma, b: tf.Tensor = beta) => {
          const [y, mean, variance] = bnTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D);
          const terms: tf.Tensor[] = [];
          if (useY) terms.push(tf.sum(tf.mul(y, wy)));
          if (useMean) terms.push(tf.sum(tf.mul(mean, wm)));
          if (useVar) terms.push(tf.sum(tf.mul(variance, wv)));
          return tf.addN(terms);
        };
        const x = tf.tensor4d(xd, shape);
        return tf.grads(loss)(useY ? [x, gamma, beta] : [x]);
      });
      check(`bn grads ${uses} ${label}`, pairs, wrt, BN_TOL);
    });
  }
}

test(`${BATCH_NORM_TRAIN_KERNEL} gradient with respect to x alone (gamma, beta constants) and through variables`, async () => {
  const shape: S4 = [2, 3, 3, 5];
  const xd = rand(shape, 11);
  const wd = rand(shape, 12);
  const pairs = await both(() => {
    const gamma = tf.variable(tf.tensor1d(rand([5], 13)));
    const beta = tf.variable(tf.tensor1d(rand([5], 14)));
    const w = tf.tensor4d(wd, shape);
    const f = (x: tf.Tensor) => tf.sum(tf.mul(bnTrain(x as tf.Tensor4D, gamma, beta)[0], w));
    const dx = tf.grad(f)(tf.tensor4d(xd, shape));
    const { value, grads } = tf.variableGrads(
      () => f(tf.tensor4d(xd, shape)) as tf.Scalar,
      [gamma, beta],
    );
    const out = [dx, value, grads[gamma.name], grads[beta.name]];
    tf.dispose([gamma, beta]);
    return out;
  });
  check('bn x alone / variables', pairs, ['dx', 'loss', 'dgamma', 'dbeta'], BN_TOL);
});

test(`${BATCH_NORM_TRAIN_KERNEL} runs one kernel forward and one backward on wasm`, async () => {
  await setupFastCpu();
  const x = tf.tensor4d(rand([2, 4, 4, 3], 15), [2, 4, 4, 3]);
  const gamma = tf.tensor1d(rand([3], 16));
  const beta = tf.tensor1d(rand([3], 17));
  const prof = await tf.profile(() =>
    tf.grads((a: tf.Tensor) => bnTrain(a as tf.Tensor4D, gamma, beta)[0])([x]),
  );
  // Identity: tfjs clones the tensors it saves for the backward pass (no copy).
  assert.deepEqual(
    prof.kernels.map((k) => k.name).filter((n) => n !== 'Identity'),
    [BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_TRAIN_GRAD_KERNEL],
  );
  tf.dispose([x, gamma, beta, ...(prof.result as tf.Tensor[])]);
});
