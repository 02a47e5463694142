// A full training step (L1 loss, Adam) of small nets of every kind fidlab trains, on the fast
// wasm path against the pure-JS cpu backend: same initial weights, same batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  inceptionLike,
  initParams,
  makeParams,
  patchgan,
  randomArray,
  seeded,
  trainStep,
  unet,
  vae,
  vggLike,
  type Net,
} from '../bench/nets.js';
import { maxRelativeError as relErr } from '@fidlab/testing';
import { runOn } from './compare.js';

const GRAD_TOL = 1e-3;
const WEIGHT_TOL = 1e-3;

const NETS: Net[] = [
  unet({ size: 32, ngf: 4, depth: 4, batch: 2, dropout: 0 }),
  unet({ size: 16, ngf: 4, depth: 4, batch: 1, dropout: 0, skips: false }),
  vae({ size: 32, nf: 4, latent: 8, batch: 2 }),
  patchgan({ size: 64, ndf: 4, batch: 1 }),
  vggLike({ size: 16, nf: 4, classes: 5, batch: 2 }),
  inceptionLike({ size: 23, nf: 4, batch: 2 }),
];

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

for (const net of NETS) {
  test(`one Adam + L1 training step on wasm matches cpu: ${net.name}`, async () => {
    const init = initParams(net, 11);
    const xd = randomArray(size(net.inputShape), seeded(12));
    const yd = randomArray(size(net.outputShape), seeded(13));
    const names = [...init.keys()];
    const step = () => {
      const p = makeParams(init);
      const x = tf.tensor4d(xd, net.inputShape as [number, number, number, number]);
      const y = tf.tensor(yd, net.outputShape);
      const loss = () => tf.mean(tf.abs(tf.sub(net.apply(p, x, true), y))) as tf.Scalar;
      const { grads } = tf.variableGrads(loss, [...p.values()]);
      const g = names.map((_, i) => grads[[...p.values()][i].name]);
      const opt = tf.train.adam(1e-3);
      trainStep(net, p, opt, x, y);
      trainStep(net, p, opt, x, y);
      const w = [...p.values()].map((v) => v.clone());
      tf.dispose([...p.values()]);
      opt.dispose();
      return [...g, ...w];
    };
    const ref = await runOn('cpu', step);
    const fast = await runOn('wasm', step);
    const k = names.length;
    for (let i = 0; i < k; i++) {
      const eg = relErr(fast[i].data, ref[i].data);
      assert.ok(eg < GRAD_TOL, `${net.name} grad ${names[i]}: relative error ${eg}`);
      const ew = relErr(fast[k + i].data, ref[k + i].data);
      assert.ok(
        ew < WEIGHT_TOL,
        `${net.name} weights ${names[i]} after 2 steps: relative error ${ew}`,
      );
    }
  });
}
