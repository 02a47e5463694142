import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createRng, encodeNpz, parseNpz } from '@fidlab/base';
import { createGenerator, createPatchGan } from '@fidlab/models';
import { Adam } from '../src/pix2pix/adam.js';
import { trainStep } from '../src/pix2pix/trainStep.js';
import { parseTrialConfig } from '../src/pix2pix/trialConfig.js';

/**
 * Three pix2pix training steps (D update, then G update, Adam on both) against PyTorch's
 * Pix2PixModel.optimize_parameters re-stated in torch_train_parity.py, from the same weights and
 * batches: losses per step and weights / BatchNorm running statistics afterwards. 32 px, so the
 * U-Net has no dropout. Skipped where no python3 with torch is installed.
 */
const python = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0,
);

for (const ganMode of ['vanilla', 'lsgan'] as const) {
  test(
    `${ganMode} pix2pix steps equal PyTorch's`,
    { skip: !python && 'no python3 with torch' },
    async () => {
      await tf.setBackend('cpu');
      const lr = 2e-3;
      const config = parseTrialConfig({
        model: 'unet',
        size: 32,
        ngf: 4,
        ndf: 4,
        lr,
        gan_mode: ganMode,
        data: { root: '/unused' },
        run_dir: '/unused',
      });
      const G = createGenerator(
        { model: 'unet', size: 32, ngf: 4, inChannels: 3, outChannels: 3 },
        { seed: 5 },
      );
      const D = createPatchGan({ inChannels: 6, ndf: 4 }, { seed: 6 });
      const nets = {
        G,
        D,
        optG: new Adam(G.params, 0.5, 0.999),
        optD: new Adam(D.params, 0.5, 0.999),
      };
      const rng = createRng(21);
      const batch = () => ({
        shape: [2, 32, 32, 3],
        data: Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => 2 * rng.next() - 1),
      });
      const entries: Record<string, { shape: number[]; data: ArrayLike<number> }> = {
        lr: { shape: [1], data: [lr] },
        beta1: { shape: [1], data: [0.5] },
        lambda_l1: { shape: [1], data: [100] },
        lsgan: { shape: [1], data: [ganMode === 'lsgan' ? 1 : 0] },
      };
      for (const [net, set] of [
        ['unet32', G.params],
        ['d32', D.params],
      ] as const) {
        for (const [name, v] of set.entries())
          entries[`${net}/${name}`] = { shape: v.shape, data: v.dataSync() };
      }
      const batches = [batch(), batch(), batch(), batch(), batch(), batch()];
      batches.forEach((x, i) => (entries[`${i % 2 === 0 ? 'a' : 'b'}${i >> 1}`] = x));
      const ours: Record<string, number>[] = [];
      for (let k = 0; k < 3; k++) {
        const a = tf.tensor4d(batches[2 * k].data, [2, 32, 32, 3]);
        const b = tf.tensor4d(batches[2 * k + 1].data, [2, 32, 32, 3]);
        ours.push(trainStep(config, nets, a, b, lr, k));
        tf.dispose([a, b]);
      }
      const dir = mkdtempSync(join(tmpdir(), 'fidlab-torch-train-'));
      try {
        writeFileSync(join(dir, 'in.npz'), encodeNpz(entries, 'float32'));
        const script = new URL('./torch_train_parity.py', import.meta.url).pathname;
        const r = spawnSync(python!, [script, join(dir, 'in.npz'), join(dir, 'out.npz')], {
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
        const ref = parseNpz(readFileSync(join(dir, 'out.npz')));
        ours.forEach((l, k) => {
          const want = ref.get(`losses${k}`)!.data; // G_GAN, G_L1, D_real, D_fake
          const got = [l.G_GAN, l.G_L1, l.D_real, l.D_fake];
          got.forEach((x, i) =>
            assert.ok(
              Math.abs(x - want[i]) < 1e-4 * Math.max(1, Math.abs(want[i])),
              `step ${k} loss ${i}: ${x} vs ${want[i]}`,
            ),
          );
        });
        // Adam's first steps move each weight by about lr whatever the gradient's size, so the
        // tolerance is a small fraction of lr (float32 rounding flips only near-zero gradients).
        for (const [key, want] of ref) {
          if (key.startsWith('losses')) continue;
          const [net, name] = key.split('/');
          const set = net === 'G' ? G.params : D.params;
          const v = set.params.get(name) ?? set.buffers.get(name);
          assert.ok(v, key);
          const got = v.dataSync();
          let maxDiff = 0;
          for (let i = 0; i < got.length; i++)
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want.data[i]));
          assert.ok(maxDiff < 0.05 * lr, `${key}: max |diff| ${maxDiff}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
        G.dispose();
        D.dispose();
        nets.optG.dispose();
        nets.optD.dispose();
      }
    },
  );
}
