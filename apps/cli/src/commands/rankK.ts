import { readFileSync } from 'node:fs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { rankK } from '@fidlab/fid-core';
import { parse, UsageError, type Command } from '../command.js';
import { readFeatureMatrix } from '../featureFiles.js';
import { fmt } from '../format.js';
import { requireInputFile } from '../paths.js';

/** One label per line (blank lines ignored): the identity of each feature row. */
function readLabels(path: string, rows: number, featuresPath: string): string[] {
  requireInputFile(path, '', 'a labels file (one identity per line)');
  const labels = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (labels.length !== rows) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `${path}: ${labels.length} labels for ${rows} feature rows in ${featuresPath}`,
    );
  }
  return labels;
}

export const rankKCommand: Command = {
  name: 'rank-k',
  summary: 'rank-k identification accuracy and the CMC curve (probe vs gallery features)',
  usage: `usage: fidlab rank-k --probe P.npy --gallery G.npy [--k 1,5,10] [--metric cosine|euclidean]
                     [--probe-labels FILE --gallery-labels FILE] [--json]

Row i of the probe matches row i of the gallery unless label files (one identity per line)
are given. A tie with the true identity counts against the probe.

  --json   print {"rank": {"1": acc, ...}, "cmc": [...]} (accuracies in [0, 1])`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: {
        probe: { type: 'string' },
        gallery: { type: 'string' },
        k: { type: 'string', default: '1,5,10' },
        metric: { type: 'string', default: 'cosine' },
        'probe-labels': { type: 'string' },
        'gallery-labels': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    if (!values.probe || !values.gallery)
      throw new UsageError('--probe and --gallery are required');
    const metric = values.metric as string;
    if (metric !== 'cosine' && metric !== 'euclidean') {
      throw new UsageError(`--metric must be cosine or euclidean, got '${metric}'`);
    }
    const ks = (values.k as string).split(',').map((s) => {
      const k = Number(s);
      if (!Number.isInteger(k) || k < 1)
        throw new UsageError(
          `--k must be positive integers separated by commas, got '${values.k}'`,
        );
      return k;
    });
    if (Boolean(values['probe-labels']) !== Boolean(values['gallery-labels'])) {
      throw new UsageError('give both --probe-labels and --gallery-labels, or neither');
    }
    const probe = readFeatureMatrix(values.probe);
    const gallery = readFeatureMatrix(values.gallery);
    const labels = values['probe-labels']
      ? {
          probeLabels: readLabels(values['probe-labels'], probe.rows, values.probe),
          galleryLabels: readLabels(
            values['gallery-labels'] as string,
            gallery.rows,
            values.gallery,
          ),
        }
      : {};
    const r = rankK(probe, gallery, { ks, metric, ...labels });
    if (values.json) {
      io.out(JSON.stringify({ rank: r.rank, cmc: r.cmc }));
    } else {
      io.out(
        `rank-k identification (${r.probes} probes, ${r.galleryIdentities} gallery identities, ${r.metric} distance)`,
      );
      for (const [k, acc] of Object.entries(r.rank)) io.out(`  rank-${k}: ${fmt(acc * 100, 4)}%`);
    }
    return 0;
  },
};
