// fidlab's own architectures (@fidlab/models: U-Net, no-skip U-Net, VAE, PatchGAN) trained one
// step (L1, Adam, dropout on with the generator's seeded masks) on wasm against the cpu backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createGenerator, createPatchGan, type ModelConfig } from '@fidlab/models';
import { randomArray, seeded } from '../bench/nets.js';
import { maxRelativeError as relErr } from '@fidlab/testing';
import { runOn } from './compare.js';

const GRAD_TOL = 1e-3;
const WEIGHT_TOL = 1e-3;
/**
 * A gradient below this fraction of the network's largest is zero up to rounding: the seed's
 * VAE puts a conv bias before each BatchNorm, which removes any per-channel constant, so that
 * bias gets rounding noise as its gradient and Adam moves it by +-lr in a direction the noise
 * picks, differently on any two backends. Such parameters are checked to have a negligible
 * gradient on wasm too, and their updated values are not compared.
 */
const ZERO_GRAD = 1e-4;

type Net = { params: { trainable(): tf.Variable[] }; dispose(): void };
const CASES: {
  name: string;
  input: [number, number, number, number];
  make(): { net: Net; forward(x: tf.Tensor4D): tf.Tensor };
}[] = [
  ...(['unet', 'unet-noskip', 'vae'] as const).map((model) => {
    const size = model === 'vae' ? 64 : 32;
    const config: ModelConfig = { model, size, ngf: 4, inChannels: 3, outChannels: 3 };
    return {
      name: `${model} ${size}px ngf 4`,
      input: [2, size, size, 3] as [number, number, number, number],
      make() {
        const g = createGenerator(config, { seed: 5 });
        return {
          net: g,
          forward: (x: tf.Tensor4D) => g.apply(x, { training: true, updateStats: true }).output,
        };
      },
    };
  }),
  {
    name: 'patchgan ndf 4 on 64px pairs',
    input: [1, 64, 64, 6],
    make() {
      const d = createPatchGan({ inChannels: 6, ndf: 4 }, { seed: 5 });
      return { net: d, forward: (x: tf.Tensor4D) => d.apply(x, { training: true }) };
    },
  },
];

for (const c of CASES) {
  test(`@fidlab/models ${c.name}: one training step on wasm matches cpu`, async () => {
    const n = c.input.reduce((a, b) => a * b, 1);
    const xd = randomArray(n, seeded(1));
    const step = () => {
      const { net, forward } = c.make();
      const x = tf.tensor4d(xd, c.input);
      const vars = net.params.trainable();
      const loss = () => {
        const y = forward(x);
        return tf.mean(tf.abs(tf.sub(y, tf.onesLike(y).mul(0.3)))) as tf.Scalar;
      };
      const { grads } = tf.variableGrads(loss, vars);
      const g = vars.map((v) => grads[v.name]);
      const opt = tf.train.adam(2e-4, 0.5, 0.999);
      for (let i = 0; i < 2; i++) opt.minimize(loss);
      const out = vars.map((v) => v.clone());
      opt.dispose();
      net.dispose();
      return [...g, ...out];
    };
    const ref = await runOn('cpu', step);
    const fast = await runOn('wasm', step);
    assert.equal(fast.length, ref.length);
    const k = ref.length / 2;
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const gmax = Math.max(...ref.slice(0, k).map((r) => maxAbs(r.data)));
    let compared = 0;
    for (let i = 0; i < k; i++) {
      const label = `${c.name} parameter ${i} ${ref[i].shape}`;
      if (maxAbs(ref[i].data) < ZERO_GRAD * gmax) {
        assert.ok(maxAbs(fast[i].data) < ZERO_GRAD * gmax, `${label}: gradient not ~0 on wasm`);
        continue;
      }
      const eg = relErr(fast[i].data, ref[i].data);
      assert.ok(eg < GRAD_TOL, `${label}: gradient relative error ${eg}`);
      const ew = relErr(fast[k + i].data, ref[k + i].data);
      assert.ok(ew < WEIGHT_TOL, `${label}: updated weights relative error ${ew}`);
      compared++;
    }
    assert.ok(compared >= k / 2, `${c.name}: only ${compared} of ${k} parameters compared`);
  });
}
