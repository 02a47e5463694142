import * as tf from '@tensorflow/tfjs';
import { createRng } from '@fidlab/base';
import type { Discriminator, Generator } from '@fidlab/models';
import type { Adam } from './adam.js';
import { ganLoss, klLoss, l1Loss } from './losses.js';
import type { TrialConfig } from './trialConfig.js';

/** The networks and optimizers one step updates (D and its optimizer absent without a GAN). */
export interface Nets {
  G: Generator;
  D: Discriminator | null;
  optG: Adam;
  optD: Adam | null;
}

/**
 * One pix2pix optimisation step (`Pix2PixModel.optimize_parameters`): fake = G(A); update D on
 * 0.5 (GAN(D(A, fake), 0) + GAN(D(A, B), 1)); update G on GAN(D(A, G(A)), 1) + lambda L1(G(A), B)
 * (+ kl_weight KL for the VAE). Without a GAN only the G part runs, without its GAN term.
 * G runs twice (once for D's input, once under G's gradient tape) with the same dropout masks and
 * noise (the same Rng seed), so both passes give the same fake; running statistics update once.
 */
export function trainStep(
  c: TrialConfig,
  n: Nets,
  a: tf.Tensor4D,
  b: tf.Tensor4D,
  lr: number,
  stepSeed: number,
): Record<string, number> {
  const kept: Record<string, tf.Scalar> = {};
  const record = (k: string, t: tf.Scalar) => {
    kept[k] = tf.keep(t);
  };
  const mode = c.gan_mode;
  const { G, D } = n;
  if (D && n.optD && mode !== 'none') {
    const fake = tf.tidy(
      () => G.apply(a, { training: true, rng: createRng(stepSeed), updateStats: true }).output,
    );
    const { value, grads } = tf.variableGrads(() => {
      const train = { training: true, updateStats: true };
      const lossFake = ganLoss(D.apply(tf.concat([a, fake], 3), train), false, mode);
      const lossReal = ganLoss(D.apply(tf.concat([a, b], 3), train), true, mode);
      record('D_fake', lossFake);
      record('D_real', lossReal);
      return tf.mul(tf.add(lossFake, lossReal), 0.5) as tf.Scalar;
    }, D.params.trainable());
    n.optD.apply(grads, lr);
    tf.dispose([value, fake, ...Object.values(grads)]);
  }
  const vae = c.model === 'vae';
  const { value, grads } = tf.variableGrads(() => {
    const r = G.apply(a, {
      training: true,
      rng: createRng(stepSeed),
      updateStats: !D,
      taps: vae ? ['mu', 'logvar'] : [],
    });
    const l1 = l1Loss(r.output, b);
    record('L1', l1);
    const gL1 = tf.mul(l1, c.lambda_l1) as tf.Scalar;
    record('G_L1', gL1);
    let loss = gL1;
    if (D && mode !== 'none') {
      const pred = D.apply(tf.concat([a, r.output], 3), { training: true, updateStats: true });
      const gGan = ganLoss(pred, true, mode);
      record('G_GAN', gGan);
      loss = tf.add(loss, gGan);
    }
    if (vae) {
      const kl = klLoss(r.taps.mu as tf.Tensor2D, r.taps.logvar as tf.Tensor2D);
      record('KL', kl);
      loss = tf.add(loss, tf.mul(kl, c.kl_weight));
    }
    return loss;
  }, G.params.trainable());
  n.optG.apply(grads, lr);
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(kept)) out[k] = t.dataSync()[0];
  // `value` may be one of the kept scalars (G_L1 without GAN or KL terms): dispose each once.
  tf.dispose([...new Set([value, ...Object.values(grads), ...Object.values(kept)])]);
  return out;
}
