/**
 * pix2pix's `NLayerDiscriminator` (PatchGAN), n_layers = 3: Conv k4 s2 p1 ndf (bias) + LeakyReLU;
 * Conv s2 2ndf, 4ndf + BatchNorm + LeakyReLU; Conv s1 p1 8ndf + BatchNorm + LeakyReLU; Conv s1 p1
 * to 1 logit per patch (bias). 70 x 70 receptive field; at 256 px the output is 30 x 30. The input
 * is the condition and the image concatenated on channels (6 for RGB -> RGB).
 */
import { ErrorCode, FidlabError } from '@fidlab/base';
import { batchNorm, conv2d, leakyRelu, type Layer } from './layers.js';
import type { Discriminator } from './generator.js';
import { ParamBuilder } from './params.js';

export interface PatchGanConfig {
  inChannels: number;
  ndf: number;
  /** Default 3 (pix2pix's `basic` D). */
  nLayers?: number;
}

export function createPatchGan(
  c: PatchGanConfig,
  opts: { seed: number; init?: 'normal' | 'zeros' },
): Discriminator {
  const nLayers = c.nLayers ?? 3;
  for (const [k, v] of [
    ['inChannels', c.inChannels],
    ['ndf', c.ndf],
    ['nLayers', nLayers],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new FidlabError(ErrorCode.INVALID_CONFIG, `${k} must be an integer >= 1, got ${v}`);
    }
  }
  const b = new ParamBuilder(opts.seed, opts.init);
  const layers: Layer[] = [];
  layers.push(conv2d(b, 'l0.conv', c.inChannels, c.ndf, { k: 4, stride: 2, pad: 1, bias: true }));
  let mult = 1;
  for (let n = 1; n <= nLayers; n++) {
    const prev = mult;
    mult = Math.min(2 ** n, 8);
    const stride = n < nLayers ? 2 : 1;
    const conv = conv2d(b, `l${n}.conv`, c.ndf * prev, c.ndf * mult, {
      k: 4,
      stride,
      pad: 1,
      bias: false,
    });
    const norm = batchNorm(b, `l${n}.bn`, c.ndf * mult);
    layers.push((x, ctx) => norm(conv(leakyRelu(x), ctx), ctx));
  }
  const head = conv2d(b, `l${nLayers + 1}.conv`, c.ndf * mult, 1, {
    k: 4,
    stride: 1,
    pad: 1,
    bias: true,
  });
  layers.push((x, ctx) => head(leakyRelu(x), ctx));
  const params = b.set;
  // The discriminator has no dropout; its Rng is never drawn from.
  const rng = { next: () => 0, int: () => 0 };
  return {
    inChannels: c.inChannels,
    params,
    apply(x, o) {
      if (x.shape[3] !== c.inChannels) {
        throw new FidlabError(
          ErrorCode.SHAPE_MISMATCH,
          `discriminator expects ${c.inChannels} channels, got ${x.shape[3]}`,
        );
      }
      const ctx = { training: o.training, updateStats: o.updateStats ?? false, rng };
      return layers.reduce((h, layer) => layer(h, ctx), x);
    },
    dispose: () => params.dispose(),
  };
}
