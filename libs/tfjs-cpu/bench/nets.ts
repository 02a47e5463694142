// Small networks built from plain tfjs ops, the layer types fidlab trains (pix2pix U-Net,
// VAE, PatchGAN, VGG-style identity net, Inception-style stacks). Used by the kernel tests
// (one training step on wasm vs the pure-JS cpu backend) and by the training benchmark.
// Parameters are plain Float32Arrays from a seeded generator, so every backend starts equal.
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAIN_KERNEL } from '../src/index.js';

export type Init = Map<string, { shape: number[]; data: Float32Array }>;
export type Params = Map<string, tf.Variable>;
/** A network: its parameter shapes and a forward pass (x NHWC). */
export interface Net {
  readonly name: string;
  readonly inputShape: number[];
  readonly outputShape: number[];
  shapes(): Map<string, number[]>;
  /** mask: optional dropout masks by name (tests pass fixed ones; training draws them). */
  apply(p: Params, x: tf.Tensor4D, training: boolean): tf.Tensor;
}

/** Deterministic uniform(-1, 1) * scale, mulberry32. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function randomArray(n: number, rnd: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rnd() * scale;
  return a;
}

/** He-like uniform init (fan-in from all but the last axis); BN gammas 1, betas/biases 0. */
export function initParams(net: Net, seed: number): Init {
  const rnd = seeded(seed);
  const out: Init = new Map();
  for (const [name, shape] of net.shapes()) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('.gamma')) data = new Float32Array(n).fill(1);
    else if (name.endsWith('.beta') || name.endsWith('.b')) data = randomArray(n, rnd, 0.1);
    else {
      const fanIn = name.endsWith('.wt') ? n / shape[2] : n / shape[shape.length - 1];
      data = randomArray(n, rnd, Math.sqrt(3 / fanIn));
    }
    out.set(name, { shape, data });
  }
  return out;
}

export function makeParams(init: Init): Params {
  const p: Params = new Map();
  for (const [name, v] of init) p.set(name, tf.variable(tf.tensor(v.data, v.shape), true));
  return p;
}

const get = (p: Params, name: string): tf.Variable => {
  const v = p.get(name);
  if (!v) throw new Error(`no parameter ${name}`);
  return v;
};

/**
 * Batch norm with batch statistics (training) as pix2pix uses it: this package's one-kernel
 * BatchNorm where registered (wasm, as @fidlab/models uses it), else tf.moments + tf.batchNorm.
 */
function bn(p: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const gamma = get(p, `${name}.gamma`);
  const beta = get(p, `${name}.beta`);
  if (tf.getKernel(BATCH_NORM_TRAIN_KERNEL, tf.getBackend()) != null) {
    const [y] = tf
      .engine()
      .runKernel(BATCH_NORM_TRAIN_KERNEL, { x, gamma, beta }, { eps: 1e-5 }) as tf.Tensor[];
    return y as tf.Tensor4D;
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5) as tf.Tensor4D;
}

function conv(
  p: Params,
  name: string,
  x: tf.Tensor4D,
  stride: number,
  pad: 'same' | 'valid' = 'same',
) {
  return tf.conv2d(x, get(p, `${name}.w`) as tf.Tensor4D, stride, pad);
}

function convT(p: Params, name: string, x: tf.Tensor4D, channels: number): tf.Tensor4D {
  const [n, h, w] = x.shape;
  return tf.conv2dTranspose(
    x,
    get(p, `${name}.wt`) as tf.Tensor4D,
    [n, h * 2, w * 2, channels],
    2,
    'same',
  );
}

/**
 * pix2pix U-Net: `depth` down blocks (conv k4 s2 p1, BN, LeakyReLU 0.2) and as many up blocks
 * (ReLU, transposed conv k4 s2 p1, BN, dropout in the innermost up blocks, concat skip), tanh.
 * skips=false drops the concatenations (fidlab's no-skip U-Net).
 */
export function unet(opts: {
  size: number;
  ngf: number;
  depth: number;
  batch: number;
  skips?: boolean;
  dropout?: number;
}): Net {
  const { size, ngf, depth, batch } = opts;
  const skips = opts.skips ?? true;
  const dropout = opts.dropout ?? 0.5;
  const ch = (i: number) => ngf * Math.min(2 ** i, 8);
  return {
    name: `unet${size}-ngf${ngf}-d${depth}-b${batch}`,
    inputShape: [batch, size, size, 3],
    outputShape: [batch, size, size, 3],
    shapes() {
      const s = new Map<string, number[]>();
      for (let i = 0; i < depth; i++) {
        s.set(`d${i}.w`, [4, 4, i === 0 ? 3 : ch(i - 1), ch(i)]);
        if (i > 0 && i < depth - 1) s.set(`d${i}.gamma`, [ch(i)]).set(`d${i}.beta`, [ch(i)]);
      }
      for (let i = depth - 1; i >= 0; i--) {
        const inC = i === depth - 1 ? ch(i) : skips ? 2 * ch(i) : ch(i);
        const outC = i === 0 ? 3 : ch(i - 1);
        s.set(`u${i}.wt`, [4, 4, outC, inC]);
        if (i > 0) s.set(`u${i}.gamma`, [outC]).set(`u${i}.beta`, [outC]);
      }
      s.set('u0.b', [3]);
      return s;
    },
    apply(p, x, training) {
      const feats: tf.Tensor4D[] = [];
      let h = x;
      for (let i = 0; i < depth; i++) {
        if (i > 0) h = tf.leakyRelu(h, 0.2);
        h = conv(p, `d${i}`, h, 2);
        if (i > 0 && i < depth - 1) h = bn(p, `d${i}`, h);
        feats.push(h);
      }
      for (let i = depth - 1; i >= 0; i--) {
        if (i < depth - 1 && skips) h = tf.concat([h, feats[i]], 3);
        h = tf.relu(h);
        const outC = i === 0 ? 3 : ch(i - 1);
        h = convT(p, `u${i}`, h, outC);
        if (i > 0) {
          h = bn(p, `u${i}`, h);
          if (training && dropout > 0 && i >= depth - 3 && i < depth - 1)
            h = tf.dropout(h, dropout) as tf.Tensor4D;
        }
      }
      return tf.tanh(tf.add(h, get(p, 'u0.b')));
    },
  };
}

/** VAE: six 3x3 stride-2 convs (LeakyReLU), linear mu/logvar, reparameterised z, linear + up. */
export function vae(opts: { size: number; nf: number; latent: number; batch: number }): Net {
  const { size, nf, latent, batch } = opts;
  const layers = 4;
  const last = size / 2 ** layers;
  const ch = (i: number) => nf * 2 ** Math.min(i, 3);
  const flat = last * last * ch(layers - 1);
  return {
    name: `vae${size}-nf${nf}-z${latent}-b${batch}`,
    inputShape: [batch, size, size, 3],
    outputShape: [batch, size, size, 3],
    shapes() {
      const s = new Map<string, number[]>();
      for (let i = 0; i < layers; i++)
        s.set(`e${i}.w`, [3, 3, i === 0 ? 3 : ch(i - 1), ch(i)]).set(`e${i}.b`, [ch(i)]);
      s.set('mu.w', [flat, latent])
        .set('mu.b', [latent])
        .set('lv.w', [flat, latent])
        .set('lv.b', [latent]);
      s.set('dec.w', [latent, flat]).set('dec.b', [flat]);
      for (let i = layers - 1; i >= 0; i--)
        s.set(`g${i}.wt`, [4, 4, i === 0 ? 3 : ch(i - 1), ch(i)]);
      return s;
    },
    apply(p, x, training) {
      let h: tf.Tensor4D = x;
      for (let i = 0; i < layers; i++)
        h = tf.leakyRelu(tf.add(conv(p, `e${i}`, h, 2), get(p, `e${i}.b`)), 0.2) as tf.Tensor4D;
      const f = h.reshape([batch, flat]) as tf.Tensor2D;
      const mu = tf.add(tf.matMul(f, get(p, 'mu.w') as tf.Tensor2D), get(p, 'mu.b'));
      const lv = tf.add(tf.matMul(f, get(p, 'lv.w') as tf.Tensor2D), get(p, 'lv.b'));
      // Fixed noise keeps the step deterministic for the cross-backend tests.
      const eps = training
        ? tf.tensor(randomArray(batch * latent, seeded(7)), [batch, latent])
        : tf.zerosLike(mu);
      const z = tf.add(mu, tf.mul(tf.exp(tf.mul(lv, 0.5)), eps)) as tf.Tensor2D;
      h = tf
        .relu(tf.add(tf.matMul(z, get(p, 'dec.w') as tf.Tensor2D), get(p, 'dec.b')))
        .reshape([batch, last, last, ch(layers - 1)]);
      for (let i = layers - 1; i >= 0; i--) {
        h = convT(p, `g${i}`, h, i === 0 ? 3 : ch(i - 1));
        if (i > 0) h = tf.relu(h);
      }
      const kl = tf.mean(tf.sub(tf.add(tf.exp(lv), tf.square(mu)), tf.add(lv, 1)));
      // The KL term rides along as a scalar offset so that the L1 loss on the output trains it.
      return tf.add(tf.tanh(h), tf.mul(kl, 1e-3));
    },
  };
}

/** PatchGAN discriminator: k4 s2 convs, BN, LeakyReLU, then two k4 s1 'valid' convs. */
export function patchgan(opts: { size: number; ndf: number; batch: number }): Net {
  const { size, ndf, batch } = opts;
  return {
    name: `patchgan${size}-ndf${ndf}-b${batch}`,
    inputShape: [batch, size, size, 6],
    outputShape: [batch, size / 8 - 6, size / 8 - 6, 1],
    shapes() {
      return new Map<string, number[]>([
        ['c0.w', [4, 4, 6, ndf]],
        ['c1.w', [4, 4, ndf, ndf * 2]],
        ['c1.gamma', [ndf * 2]],
        ['c1.beta', [ndf * 2]],
        ['c2.w', [4, 4, ndf * 2, ndf * 4]],
        ['c2.gamma', [ndf * 4]],
        ['c2.beta', [ndf * 4]],
        ['c3.w', [4, 4, ndf * 4, ndf * 8]],
        ['c3.gamma', [ndf * 8]],
        ['c3.beta', [ndf * 8]],
        ['c4.w', [4, 4, ndf * 8, 1]],
      ]);
    },
    apply(p, x) {
      let h = tf.leakyRelu(conv(p, 'c0', x, 2), 0.2);
      h = tf.leakyRelu(bn(p, 'c1', conv(p, 'c1', h, 2)), 0.2);
      h = tf.leakyRelu(bn(p, 'c2', conv(p, 'c2', h, 2)), 0.2);
      h = tf.leakyRelu(bn(p, 'c3', conv(p, 'c3', h, 1, 'valid')), 0.2);
      return tf.sigmoid(conv(p, 'c4', h, 1, 'valid'));
    },
  };
}

/** VGG-style identity net: 3x3 'same' convs + ReLU, 2x2 max pools, fully connected layers. */
export function vggLike(opts: { size: number; nf: number; classes: number; batch: number }): Net {
  const { size, nf, classes, batch } = opts;
  const flat = (size / 8) ** 2 * nf * 4;
  return {
    name: `vgg${size}-nf${nf}-b${batch}`,
    inputShape: [batch, size, size, 3],
    outputShape: [batch, classes],
    shapes() {
      return new Map<string, number[]>([
        ['c0.w', [3, 3, 3, nf]],
        ['c0.b', [nf]],
        ['c1.w', [3, 3, nf, nf * 2]],
        ['c1.b', [nf * 2]],
        ['c2.w', [3, 3, nf * 2, nf * 4]],
        ['c2.b', [nf * 4]],
        ['fc0.w', [flat, 32]],
        ['fc0.b', [32]],
        ['fc1.w', [32, classes]],
        ['fc1.b', [classes]],
      ]);
    },
    apply(p, x) {
      let h: tf.Tensor4D = x;
      for (let i = 0; i < 3; i++) {
        h = tf.relu(tf.add(conv(p, `c${i}`, h, 1), get(p, `c${i}.b`))) as tf.Tensor4D;
        h = tf.maxPool(h, 2, 2, 'valid');
      }
      const f = tf.relu(
        tf.add(
          tf.matMul(h.reshape([batch, flat]), get(p, 'fc0.w') as tf.Tensor2D),
          get(p, 'fc0.b'),
        ),
      );
      return tf.softmax(
        tf.add(tf.matMul(f as tf.Tensor2D, get(p, 'fc1.w') as tf.Tensor2D), get(p, 'fc1.b')),
      );
    },
  };
}

/** Inception-style block stack: stride-2 'valid' 3x3 conv, max/avg pools (3x3, strides 1 and
 * 2, 'same' and 'valid'), 1x1/1x7/7x1 branches, concat, global average pool, dense. */
export function inceptionLike(opts: { size: number; nf: number; batch: number }): Net {
  const { size, nf, batch } = opts;
  const s1 = Math.floor((size - 3) / 2) + 1; // stem conv 'valid' s2
  const s2 = Math.floor((s1 - 3) / 2) + 1; // max pool 'valid' s2
  return {
    name: `inception${size}-nf${nf}-b${batch}`,
    inputShape: [batch, size, size, 3],
    outputShape: [batch, 10],
    shapes() {
      return new Map<string, number[]>([
        ['stem.w', [3, 3, 3, nf]],
        ['b1.w', [1, 1, nf, nf]],
        ['b7a.w', [1, 7, nf, nf]],
        ['b7b.w', [7, 1, nf, nf]],
        ['bp.w', [1, 1, nf, nf]],
        ['fc.w', [3 * nf, 10]],
      ]);
    },
    apply(p, x) {
      let h = tf.relu(conv(p, 'stem', x, 2, 'valid'));
      h = tf.maxPool(h, 3, 2, 'valid');
      void s2;
      const a = tf.relu(conv(p, 'b1', h, 1));
      const b = tf.relu(conv(p, 'b7b', tf.relu(conv(p, 'b7a', h, 1)), 1));
      const c = tf.relu(conv(p, 'bp', tf.avgPool(h, 3, 1, 'same'), 1));
      h = tf.concat([a, b, c], 3);
      h = tf.avgPool(h, 3, 2, 'valid');
      const g = tf.mean(h, [1, 2]) as tf.Tensor2D;
      return tf.matMul(g, get(p, 'fc.w') as tf.Tensor2D);
    },
  };
}

/** One Adam step on the L1 loss against `target`; returns the loss. */
export function trainStep(
  net: Net,
  p: Params,
  opt: tf.Optimizer,
  x: tf.Tensor4D,
  target: tf.Tensor,
): number {
  const loss = opt.minimize(
    () => tf.mean(tf.abs(tf.sub(net.apply(p, x, true), target))) as tf.Scalar,
    true,
    [...p.values()],
  );
  const v = loss!.dataSync()[0];
  loss!.dispose();
  return v;
}
