import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, encodeNpy } from '@fidlab/base';
import {
  bootstrapFid,
  correlate,
  frechetDistance,
  gemmNT,
  kid,
  rankK,
  type Matrix,
} from '@fidlab/fid-core';
import { numberOption, parse, type Command } from '../command.js';
import { fmt } from '../format.js';
import { requireOutputFolder } from '../paths.js';

/**
 * A self-contained tour of fid-core on generated features, standing in for a training run until
 * the trainer and extractors exist: "ground-truth sketches" are identity centres plus noise;
 * "epoch e" generates the same identities with noise and bias that shrink as training goes on.
 * Two extractors are simulated (the raw features, and a random ReLU projection of them, as a
 * VGG-Face relu layer would be) so the two FID series can be correlated, as the seed notes do.
 */
export const demoCommand: Command = {
  name: 'demo',
  summary:
    'run FID / KID / bootstrap CI / rank-k / correlation on generated features (a quick tour)',
  usage: `usage: fidlab demo [--out DIR] [--epochs N] [--seed S]

Generates a ground-truth feature set and one generated set per simulated epoch, writes them as
.npy under DIR (default .fidlab/demo), then prints FID (two extractors), KID and rank-1 by epoch,
a bootstrap CI for the best epoch, and the correlation between the two FID series.`,
  async run(argv, io) {
    const { values } = parse(argv, {
      options: {
        out: { type: 'string', default: '.fidlab/demo' },
        epochs: { type: 'string' },
        seed: { type: 'string' },
      },
    });
    const epochs = numberOption(values.epochs, 'epochs', 8, { integer: true, min: 2 });
    const seed = numberOption(values.seed, 'seed', 1, { integer: true, min: 0 });
    const out = values.out as string;
    requireOutputFolder(out);
    mkdirSync(out, { recursive: true });

    const identities = 60;
    const perIdentity = 4;
    const n = identities * perIdentity; // 240 "test sketches"
    const d = 128;
    const rng = createRng(seed);
    const normal = () =>
      Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const centres = Float64Array.from({ length: identities * d }, () => 0.35 * normal());
    const sample = (noise: number, bias: number): Matrix => {
      const data = new Float64Array(n * d);
      for (let i = 0; i < n; i++) {
        const c = Math.floor(i / perIdentity) * d;
        for (let j = 0; j < d; j++)
          data[i * d + j] = centres[c + j] + noise * normal() + bias * Math.sin(j);
      }
      return { rows: n, cols: d, data };
    };
    // Second extractor: ReLU(W x) with a fixed random W [64, d].
    const W: Matrix = {
      rows: 64,
      cols: d,
      data: Float64Array.from({ length: 64 * d }, () => normal() / Math.sqrt(d)),
    };
    const relu = (m: Matrix): Matrix => {
      const p = gemmNT(m, W);
      for (let i = 0; i < p.data.length; i++) p.data[i] = Math.max(0, p.data[i]);
      return p;
    };
    const save = (name: string, m: Matrix) =>
      writeFileSync(
        join(out, name),
        encodeNpy({ shape: [m.rows, m.cols], data: m.data }, 'float32'),
      );

    const truth = sample(1, 0);
    save('truth.npy', truth);
    const truthRelu = relu(truth);
    const labels = Array.from({ length: n }, (_, i) => Math.floor(i / perIdentity));

    io.out(
      `fidlab demo: ${n} ground-truth samples (${identities} identities), d=${d}, ${epochs} epochs -> ${out}/`,
    );
    io.out('epoch  fid_raw     fid_relu    kid_raw     rank1');
    const fidRaw: number[] = [];
    const fidRelu: number[] = [];
    const sets: Matrix[] = [];
    const csv = ['epoch,fid_raw,fid_relu,kid_raw,rank1'];
    for (let e = 1; e <= epochs; e++) {
      // Training "converges": noise and bias decay, with a wobble so the two FIDs do not agree perfectly.
      const progress = e / epochs;
      const gen = sample(
        0.5 + 1.5 * (1 - progress) + 0.2 * Math.abs(Math.sin(e * 1.7)),
        0.6 * (1 - progress),
      );
      save(`epoch${String(e).padStart(3, '0')}.npy`, gen);
      sets.push(gen);
      const f1 = frechetDistance(gen, truth).fid;
      const f2 = frechetDistance(relu(gen), truthRelu).fid;
      const k = kid(gen, truth, { subsets: 20, subsetSize: 100, seed: e }).kid;
      const r1 = rankK(gen, truth, { ks: [1], probeLabels: labels, galleryLabels: labels }).rank[
        '1'
      ];
      fidRaw.push(f1);
      fidRelu.push(f2);
      csv.push([e, f1, f2, k, r1].join(','));
      io.out(
        `${String(e).padStart(5)}  ${fmt(f1).padEnd(10)}  ${fmt(f2).padEnd(10)}  ${fmt(k).padEnd(10)}  ${fmt(r1 * 100, 4)}%`,
      );
    }
    writeFileSync(join(out, 'metrics.csv'), csv.join('\n') + '\n');
    const best = fidRaw.indexOf(Math.min(...fidRaw));
    const boot = bootstrapFid(sets[best], truth, { resamples: 100, seed });
    io.out(
      `best epoch by fid_raw: ${best + 1} (FID ${fmt(boot.fid.fid)}, 95% CI [${fmt(boot.ci95[0])}, ${fmt(boot.ci95[1])}], 100 resamples)`,
    );
    const c = correlate(fidRaw, fidRelu);
    io.out(
      `fid_raw vs fid_relu across epochs: pearson ${fmt(c.pearson, 4)}, spearman ${fmt(c.spearman, 4)}, kendall ${fmt(c.kendall, 4)}`,
    );
    io.out(
      `files: ${out}/truth.npy, ${out}/epoch*.npy, ${out}/metrics.csv  (try: npx fidlab fid ${out}/epoch001.npy ${out}/truth.npy)`,
    );
    return 0;
  },
};
