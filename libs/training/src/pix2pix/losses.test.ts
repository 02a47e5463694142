import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ParamSet } from '@fidlab/models';
import { Adam, ADAM_EPS } from './adam.js';
import { ganLoss, klLoss, l1Loss } from './losses.js';

before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('GAN losses by hand: BCE with logits and least squares', () => {
  const x = tf.tensor([0, 2, -3]);
  const softplus = (v: number) => Math.log1p(Math.exp(v));
  // BCE(x, 1) = softplus(-x); BCE(x, 0) = softplus(x)
  close(ganLoss(x, true, 'vanilla').dataSync()[0], (softplus(0) + softplus(-2) + softplus(3)) / 3);
  close(ganLoss(x, false, 'vanilla').dataSync()[0], (softplus(0) + softplus(2) + softplus(-3)) / 3);
  close(ganLoss(x, true, 'lsgan').dataSync()[0], (1 + 1 + 16) / 3);
  close(ganLoss(x, false, 'lsgan').dataSync()[0], (0 + 4 + 9) / 3);
  // Large logits stay finite (the stable form).
  assert.ok(Number.isFinite(ganLoss(tf.tensor([1e4, -1e4]), true, 'vanilla').dataSync()[0]));
  close(l1Loss(tf.tensor([1, -1]), tf.tensor([0, 1])).dataSync()[0], 1.5);
});

test('KL: 0 for the prior; -1/2 (1 + lv - mu^2 - e^lv) summed over dims, mean over the batch', () => {
  close(klLoss(tf.zeros([2, 4]), tf.zeros([2, 4])).dataSync()[0], 0);
  const mu = tf.tensor2d([
    [1, 0],
    [0, 0],
  ]);
  const lv = tf.tensor2d([
    [0, Math.log(2)],
    [0, 0],
  ]);
  const row0 = -0.5 * (1 - 1 - 1 + (1 + Math.log(2) - 2));
  close(klLoss(mu, lv).dataSync()[0], row0 / 2, 1e-5);
});

test("Adam matches torch.optim.Adam's update written out by hand", () => {
  const set = new ParamSet();
  const p = tf.variable(tf.tensor([1, -2]), true);
  set.params.set('w', p);
  const opt = new Adam(set, 0.5, 0.999);
  const gs = [
    [0.1, -0.3],
    [0.2, 0.4],
    [-0.5, 0.05],
  ];
  const ref = [1, -2];
  const m = [0, 0];
  const v = [0, 0];
  gs.forEach((g, t) => {
    opt.apply({ [p.name]: tf.tensor(g) }, 0.01);
    for (let i = 0; i < 2; i++) {
      m[i] = 0.5 * m[i] + 0.5 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2;
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - 0.999 ** (t + 1)) + ADAM_EPS;
      ref[i] -= (0.01 / (1 - 0.5 ** (t + 1))) * (m[i] / denom);
    }
  });
  const got = p.dataSync();
  close(got[0], ref[0], 1e-5);
  close(got[1], ref[1], 1e-5);
  assert.equal(opt.step, 3);
  // Saved moments restore into a fresh optimizer: the next step is the same.
  const saved = new Map(
    opt.tensors().map(([k, t]) => [k, { shape: t.shape, data: t.dataSync() as Float32Array }]),
  );
  const set2 = new ParamSet();
  const p2 = tf.variable(tf.tensor(Array.from(got)), true);
  set2.params.set('w', p2);
  const opt2 = new Adam(set2, 0.5, 0.999);
  opt2.load(opt.step, saved, 'x');
  opt.apply({ [p.name]: tf.tensor([0.3, 0.3]) }, 0.01);
  opt2.apply({ [p2.name]: tf.tensor([0.3, 0.3]) }, 0.01);
  assert.deepEqual(p.dataSync(), p2.dataSync());
});
