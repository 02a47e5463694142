import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createRng, encodeNpz, parseNpz } from '@fidlab/base';
import { createGenerator, createPatchGan, type ParamSet } from '@fidlab/models';

/**
 * fidlab's networks against PyTorch re-statements of pix2pix's UnetGenerator and
 * NLayerDiscriminator and of the seed's VAE (torch_parity.py), same weights, same inputs: checks
 * padding, transposed-conv and flatten layouts, skip order and BatchNorm in both modes. Skipped
 * where no python3 with torch is installed (torch is a test reference only).
 */
const python = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0,
);

test(
  'forward passes equal PyTorch (U-Net, no-skip U-Net, VAE, PatchGAN)',
  { skip: !python && 'no python3 with torch' },
  async () => {
    await tf.setBackend('cpu');
    const rng = createRng(11);
    const uniform = (shape: number[], lo: number, hi: number) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return { shape, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.next()) };
    };
    const nets: Record<string, ParamSet> = {};
    const unet32 = createGenerator(
      { model: 'unet', size: 32, ngf: 4, inChannels: 3, outChannels: 3 },
      { seed: 1 },
    );
    const noskip64 = createGenerator(
      { model: 'unet-noskip', size: 64, ngf: 2, inChannels: 3, outChannels: 3 },
      { seed: 2 },
    );
    const vae64 = createGenerator(
      { model: 'vae', size: 64, ngf: 2, inChannels: 3, outChannels: 3 },
      { seed: 3 },
    );
    const d32 = createPatchGan({ inChannels: 6, ndf: 4 }, { seed: 4 });
    Object.assign(nets, {
      unet32: unet32.params,
      noskip64: noskip64.params,
      vae64: vae64.params,
      d32: d32.params,
    });
    const entries: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
    for (const [net, set] of Object.entries(nets)) {
      for (const [name, v] of set.entries()) {
        // Weights far from pix2pix's N(0, 0.02) init and non-trivial running statistics, so that
        // every layer (and eval-mode BatchNorm) changes the output visibly.
        if (name.includes('conv') || name.startsWith('fc_')) {
          v.assign(tf.tensor(uniform(v.shape, -0.3, 0.3).data, v.shape));
        }
        if (name.endsWith('running_mean'))
          v.assign(tf.tensor(uniform(v.shape, -0.2, 0.2).data, v.shape));
        if (name.endsWith('running_var'))
          v.assign(tf.tensor(uniform(v.shape, 0.5, 1.5).data, v.shape));
        entries[`${net}/${name}`] = { shape: v.shape, data: v.dataSync() };
      }
    }
    const x32 = uniform([2, 32, 32, 3], -1, 1);
    const x64 = uniform([2, 64, 64, 3], -1, 1);
    const xd32 = uniform([2, 32, 32, 6], -1, 1);
    Object.assign(entries, { x32, x64, xd32 });
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-torch-'));
    try {
      writeFileSync(join(dir, 'in.npz'), encodeNpz(entries, 'float32'));
      const r = spawnSync(
        python!,
        [
          new URL('./torch_parity.py', import.meta.url).pathname,
          join(dir, 'in.npz'),
          join(dir, 'out.npz'),
        ],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const ref = parseNpz(readFileSync(join(dir, 'out.npz')));
      const t = (a: { shape: number[]; data: Float32Array }) =>
        tf.tensor4d(a.data, a.shape as [number, number, number, number]);
      const ours: Record<string, tf.Tensor> = {
        unet32_eval: unet32.apply(t(x32), { training: false }).output,
        unet32_train: unet32.apply(t(x32), { training: true }).output,
        noskip64_eval: noskip64.apply(t(x64), { training: false }).output,
        vae64_eval: vae64.apply(t(x64), { training: false }).output,
        d32_eval: d32.apply(t(xd32), { training: false }),
        d32_train: d32.apply(t(xd32), { training: true }),
      };
      for (const [k, v] of Object.entries(ours)) {
        const want = ref.get(k)!;
        assert.deepEqual(want.shape, v.shape, k);
        const got = v.dataSync();
        let maxDiff = 0;
        let maxAbs = 0;
        for (let i = 0; i < got.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(got[i] - want.data[i]));
          maxAbs = Math.max(maxAbs, Math.abs(want.data[i]));
        }
        assert.ok(maxAbs > 1e-3, `${k}: reference output is all zeros`);
        assert.ok(
          maxDiff < 1e-4 * Math.max(1, maxAbs),
          `${k}: max |diff| ${maxDiff} (max |ref| ${maxAbs})`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      [unet32, noskip64, vae64, d32].forEach((n) => n.dispose());
    }
  },
);
