import { kid, type Matrix } from '@fidlab/fid-core';
import { numberOption, parse, UsageError, type Command } from '../command.js';
import { readFeatureMatrix } from '../featureFiles.js';
import { fmt } from '../format.js';
import { EXTRACTOR_OPTIONS, extractorUsage, FolderFeatures, isFolder } from './features.js';

export const kidCommand: Command = {
  name: 'kid',
  summary:
    'Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) between two .npy feature files or image folders',
  usage: async () => `usage: fidlab kid A B [--subsets N] [--subset-size M] [--seed S] [--json]
       fidlab kid DIR_A DIR_B --extractor NAME [--weights PATH] [--json]

A and B: .npy feature matrices (N x D) or (with --extractor) image folders. KID is averaged over
N random subsets (default 100) of M samples (default 1000, clamped to the smaller set with a
warning), seeded (default 0).

  --json   print {"kid", "kid_std", "subsets", "subset_size"}
${await extractorUsage()}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        subsets: { type: 'string' },
        'subset-size': { type: 'string' },
        seed: { type: 'string' },
        ...EXTRACTOR_OPTIONS,
      },
    });
    if (positionals.length !== 2)
      throw new UsageError(`expected two inputs A B, got ${positionals.length}`);
    const subsets = numberOption(values.subsets, 'subsets', 100, { integer: true, min: 1 });
    const subsetSize = numberOption(values['subset-size'], 'subset-size', 1000, {
      integer: true,
      min: 2,
    });
    const seed = numberOption(values.seed, 'seed', 0, { integer: true, min: 0 });
    const folders = new FolderFeatures(values, io);
    const input = async (p: string) => (isFolder(p) ? folders.of(p) : readFeatureMatrix(p));
    let x: Matrix;
    let y: Matrix;
    try {
      x = await input(positionals[0]);
      y = await input(positionals[1]);
    } finally {
      await folders.dispose();
    }
    const r = kid(x, y, { subsets, subsetSize, seed });
    for (const w of r.warnings) io.err(`warning: ${w}`);
    if (values.json) {
      io.out(
        JSON.stringify({
          kid: r.kid,
          kid_std: r.kidStd,
          subsets: r.subsets,
          subset_size: r.subsetSize,
        }),
      );
    } else {
      io.out(
        `KID ${fmt(r.kid)} +- ${fmt(r.kidStd)}  (${r.subsets} subsets of ${r.subsetSize}, seed ${seed})`,
      );
    }
    return 0;
  },
};
