import { encodeNpz } from '@fidlab/base';
import { featureStats } from '@fidlab/fid-core';
import { parse, UsageError, type Command } from '../command.js';
import { readFeatureMatrix } from '../featureFiles.js';
import { requireOutputFile, writeResult } from '../paths.js';
import { EXTRACTOR_OPTIONS, extractorUsage, FolderFeatures, isFolder } from './features.js';

export const statsCommand: Command = {
  name: 'stats',
  summary:
    'write pytorch-fid compatible statistics (mu, sigma) of a .npy feature file or an image folder',
  usage: async () => `usage: fidlab stats FEATURES.npy --out S.npz
       fidlab stats DIR --extractor NAME [--weights PATH] --out S.npz

Writes an .npz with 'mu' (D) and 'sigma' (D x D, np.cov with N - 1), float64, readable by
numpy.load and usable wherever pytorch-fid takes a statistics file.

${await extractorUsage()}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { out: { type: 'string' }, ...EXTRACTOR_OPTIONS },
    });
    if (positionals.length !== 1)
      throw new UsageError(`expected one FEATURES.npy or DIR, got ${positionals.length}`);
    if (!values.out) throw new UsageError('--out S.npz is required');
    requireOutputFile(values.out, '--out', 'stats.npz');
    const folders = new FolderFeatures(values, io);
    let features;
    try {
      const p = positionals[0];
      features = isFolder(p) ? await folders.of(p) : readFeatureMatrix(p);
    } finally {
      await folders.dispose();
    }
    const s = featureStats(features, positionals[0]);
    const d = s.mu.length;
    await writeResult(
      values.out,
      encodeNpz({ mu: { shape: [d], data: s.mu }, sigma: { shape: [d, d], data: s.sigma.data } }),
    );
    io.out(`wrote ${values.out} (mu: ${d}, sigma: ${d} x ${d}, from ${s.n} samples)`);
    return 0;
  },
};
