/**
 * pix2pix's U-Net generator (`UnetGenerator`, `unet_256` at 256 px), and the same network without
 * skip connections (seed section 4.2). Read top to bottom: blocks, then the network.
 *
 * With n = log2(size) levels, encoder level i has c_i = ngf * min(2^(i-1), 8) channels
 * (64-128-256-512-512-512-512-512 at 256 px). Level i's "block" (pix2pix's
 * `UnetSkipConnectionBlock`) is: down = [LeakyReLU(0.2)], Conv k4 s2 p1, [BatchNorm];
 * up = ReLU, ConvTranspose k4 s2 p1, BatchNorm | tanh, [Dropout(0.5)]; and, except the outermost
 * block, `cat([input, up])` (the skip). The outermost down-conv has no activation before it and no
 * BatchNorm; the innermost has no BatchNorm; the outermost up-conv has a bias and ends in tanh.
 * Dropout is in the blocks of levels 5..n-1 (the three innermost 512-channel decoder blocks at
 * 256 px). Convolutions followed by BatchNorm have no bias.
 *
 * Taps: `en<i>` is the output of level i's down path (after its BatchNorm, before the next
 * LeakyReLU), e.g. `en7` is the seed's `out_en7`.
 */
import * as tf from '@tensorflow/tfjs';
import {
  batchNorm,
  conv2d,
  convTranspose2d,
  dropout,
  leakyRelu,
  type ForwardContext,
  type Layer,
} from './layers.js';
import type { ModelConfig } from './modelConfig.js';
import type { ParamBuilder } from './params.js';

export const UNET_DROPOUT = 0.5;

export interface UnetNetwork {
  tapNames: string[];
  forward(
    x: tf.Tensor4D,
    ctx: ForwardContext,
    taps: Set<string>,
  ): { output: tf.Tensor4D; taps: Record<string, tf.Tensor> };
}

export function buildUnet(c: ModelConfig, b: ParamBuilder, skip: boolean): UnetNetwork {
  const n = Math.log2(c.size);
  const ch = (i: number) => (i === 0 ? c.inChannels : c.ngf * Math.min(2 ** (i - 1), 8));

  // Encoder: level i maps ch(i-1) -> ch(i).
  const down: Layer[] = [];
  for (let i = 1; i <= n; i++) {
    const outermost = i === 1;
    const innermost = i === n;
    const conv = conv2d(b, `en${i}.conv`, ch(i - 1), ch(i), {
      k: 4,
      stride: 2,
      pad: 1,
      bias: false,
    });
    const norm = outermost || innermost ? null : batchNorm(b, `en${i}.bn`, ch(i));
    down.push((x, ctx) => {
      const h = conv(outermost ? x : leakyRelu(x), ctx);
      return norm ? norm(h, ctx) : h;
    });
  }

  // Decoder, innermost first: level i's up path maps its input to ch(i-1) (outChannels at i = 1).
  const up: Layer[] = [];
  for (let i = n; i >= 1; i--) {
    const outermost = i === 1;
    const innermost = i === n;
    // Input: the innermost code, or the inner block's output (with the skip: twice as wide).
    const cin = innermost || !skip ? ch(i) : 2 * ch(i);
    const cout = outermost ? c.outChannels : ch(i - 1);
    const deconv = convTranspose2d(b, `de${i}.conv`, cin, cout, { bias: outermost });
    const norm = outermost ? null : batchNorm(b, `de${i}.bn`, cout);
    const drop = !outermost && !innermost && i >= 5 ? UNET_DROPOUT : 0;
    up[i] = (x, ctx) => {
      const h = deconv(tf.relu(x), ctx);
      if (!norm) return tf.tanh(h);
      return dropout(norm(h, ctx), drop, ctx);
    };
  }

  const tapNames = Array.from({ length: n }, (_, k) => `en${k + 1}`);
  return {
    tapNames,
    forward(x, ctx, want) {
      const taps: Record<string, tf.Tensor> = {};
      const enc: tf.Tensor4D[] = [x]; // enc[i] = output of level i; enc[0] = the input
      for (let i = 1; i <= n; i++) {
        enc[i] = down[i - 1](enc[i - 1], ctx);
        if (want.has(`en${i}`)) taps[`en${i}`] = enc[i];
      }
      let h = enc[n];
      for (let i = n; i >= 1; i--) {
        const y = up[i](h, ctx);
        // pix2pix: torch.cat([x, self.model(x)], 1), the block's input first.
        h = i > 1 && skip ? tf.concat([enc[i - 1], y], 3) : y;
      }
      return { output: h, taps };
    },
  };
}
