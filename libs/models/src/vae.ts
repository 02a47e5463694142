/**
 * The seed's VAE generator (section 4.3; SPADE-style `VAEEncoder` plus a transposed-conv decoder).
 *
 * Encoder: six Conv k3 s2 p1 (with bias) + BatchNorm, LeakyReLU(0.2) between them and after the
 * last, widths nef * [1, 2, 4, 8, 8, 8] with nef = 2 * ngf (64 at the seed's ngf = 32), from
 * size x size to size/64 x size/64; flatten; two linear heads mu and logvar (LATENT = 256).
 * Reparameterisation z = mu + eps * exp(logvar / 2). Decoder: z as a 1 x 1 x 256 image, then
 * log2(size) ConvTranspose k4 s2 p1 (with bias): ngf*8 wide except the last four
 * (ngf*4, ngf*2, ngf, outChannels); BatchNorm + ReLU after each but the last, dropout 0.5 in
 * de2..de4, tanh output. At 256 px this is the seed's de1..de8 exactly.
 *
 * Deviation: the seed resizes any input to 256 x 256 first; here `size` is a parameter (>= 64) so
 * tests and small runs need no resize. The flatten is NHWC order (tfjs), not NCHW.
 * Deviation: without training (eval mode) z = mu, the usual VAE inference; the seed always samples.
 *
 * Taps: en1..en6 (encoder outputs after BatchNorm, before LeakyReLU), mu, logvar.
 */
import * as tf from '@tensorflow/tfjs';
import {
  batchNorm,
  conv2d,
  convTranspose2d,
  dropout,
  leakyRelu,
  linear,
  type ForwardContext,
  type Layer,
} from './layers.js';
import type { ModelConfig } from './modelConfig.js';
import type { ParamBuilder } from './params.js';
import { normalSampler } from './params.js';
import type { UnetNetwork } from './unet.js';

export const VAE_LATENT = 256;
export const VAE_DROPOUT = 0.5;
const ENCODER_WIDTHS = [1, 2, 4, 8, 8, 8];

export function buildVae(c: ModelConfig, b: ParamBuilder): UnetNetwork {
  const nef = 2 * c.ngf;
  const enc: Layer[] = [];
  let cin = c.inChannels;
  ENCODER_WIDTHS.forEach((m, k) => {
    const conv = conv2d(b, `en${k + 1}.conv`, cin, nef * m, {
      k: 3,
      stride: 2,
      pad: 1,
      bias: true,
    });
    const norm = batchNorm(b, `en${k + 1}.bn`, nef * m);
    enc.push((x, ctx) => norm(conv(x, ctx), ctx));
    cin = nef * m;
  });
  const s0 = c.size / 64;
  const flat = cin * s0 * s0;
  const fcMu = linear(b, 'fc_mu', flat, VAE_LATENT);
  const fcVar = linear(b, 'fc_var', flat, VAE_LATENT);

  const m = Math.log2(c.size);
  const width = (j: number) => {
    const fromEnd = m - j; // 0 for the last layer
    return fromEnd === 0 ? c.outChannels : c.ngf * Math.min(2 ** (fromEnd - 1), 8);
  };
  const dec: Layer[] = [];
  let din = VAE_LATENT;
  for (let j = 1; j <= m; j++) {
    const last = j === m;
    const deconv = convTranspose2d(b, `de${j}.conv`, din, width(j), { bias: true });
    const norm = last ? null : batchNorm(b, `de${j}.bn`, width(j));
    const drop = j >= 2 && j <= 4 && !last ? VAE_DROPOUT : 0;
    dec.push((x, ctx) => {
      const h = deconv(x, ctx);
      return norm ? tf.relu(dropout(norm(h, ctx), drop, ctx)) : tf.tanh(h);
    });
    din = width(j);
  }

  const tapNames = [...ENCODER_WIDTHS.map((_, k) => `en${k + 1}`), 'mu', 'logvar'];
  return {
    tapNames,
    forward(x, ctx: ForwardContext, want) {
      const taps: Record<string, tf.Tensor> = {};
      let h = x;
      enc.forEach((layer, k) => {
        h = layer(k === 0 ? h : leakyRelu(h), ctx);
        if (want.has(`en${k + 1}`)) taps[`en${k + 1}`] = h;
      });
      const n = x.shape[0];
      const feat = tf.reshape(leakyRelu(h), [n, flat]) as tf.Tensor2D; // [n, 512 * s0 * s0]
      const mu = fcMu(feat); // [n, 256]
      const logvar = fcVar(feat); // [n, 256]
      if (want.has('mu')) taps.mu = mu;
      if (want.has('logvar')) taps.logvar = logvar;
      let z: tf.Tensor2D = mu;
      if (ctx.training) {
        const normal = normalSampler(ctx.rng);
        const eps = new Float32Array(n * VAE_LATENT);
        for (let i = 0; i < eps.length; i++) eps[i] = normal();
        z = tf.add(mu, tf.mul(tf.tensor2d(eps, [n, VAE_LATENT]), tf.exp(tf.mul(logvar, 0.5))));
      }
      let y = tf.reshape(z, [n, 1, 1, VAE_LATENT]) as tf.Tensor4D;
      for (const layer of dec) y = layer(y, ctx);
      return { output: y, taps };
    },
  };
}
