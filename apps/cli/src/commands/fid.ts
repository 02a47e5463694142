import { ErrorCode, FidlabError } from '@fidlab/base';
import {
  bootstrapFid,
  featureStats,
  frechetDistance,
  frechetDistanceFromStats,
  type FrechetResult,
} from '@fidlab/fid-core';
import { numberOption, parse, UsageError, type Command } from '../command.js';
import { readFeatureInput, type FeatureInput } from '../featureFiles.js';
import { fmt, progressPrinter } from '../format.js';
import { EXTRACTOR_OPTIONS, extractorUsage, FolderFeatures, isFolder } from './features.js';

export const fidCommand: Command = {
  name: 'fid',
  summary:
    'Frechet Inception Distance between two feature files (.npy features or .npz mu/sigma) or image folders',
  usage:
    async () => `usage: fidlab fid A B [--json] [--bootstrap N] [--seed S] [--method auto|lowrank|full]
       fidlab fid DIR_A DIR_B --extractor NAME [--weights PATH] [--json]

A and B: a .npy feature matrix (N x D, float32/float64) or an .npz with 'mu' and 'sigma'
(pytorch-fid statistics), or (with --extractor) an image folder. With two feature matrices and
N < D the exact low-rank method runs; with a statistics file the (mu, sigma) formulation runs
("method": "stats").

  --json           print {"fid", "n1", "n2", "dims", "method"[, "ci95"]}
  --bootstrap N    also a 95% bootstrap confidence interval from N resamples of both sets
                   (features only; percentile interval corrected for the resampling bias)
  --seed S         bootstrap seed (default 0)
  --method M       auto (default), lowrank or full (features only)
${await extractorUsage()}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        bootstrap: { type: 'string' },
        seed: { type: 'string' },
        method: { type: 'string', default: 'auto' },
        ...EXTRACTOR_OPTIONS,
      },
    });
    if (positionals.length !== 2)
      throw new UsageError(`expected two inputs A B, got ${positionals.length}`);
    const method = values.method as string;
    if (!['auto', 'lowrank', 'full'].includes(method)) {
      throw new UsageError(`--method must be auto, lowrank or full, got '${method}'`);
    }
    const resamples =
      values.bootstrap === undefined
        ? 0
        : numberOption(values.bootstrap, 'bootstrap', 0, { integer: true, min: 2 });
    const seed = numberOption(values.seed, 'seed', 0, { integer: true, min: 0 });
    const folders = new FolderFeatures(values, io);
    const input = async (p: string): Promise<FeatureInput> =>
      isFolder(p)
        ? { kind: 'features', path: p, features: await folders.of(p) }
        : readFeatureInput(p);
    let a: FeatureInput;
    let b: FeatureInput;
    try {
      a = await input(positionals[0]);
      b = await input(positionals[1]);
    } finally {
      await folders.dispose();
    }
    const names: [string, string] = [a.path, b.path];

    let result: FrechetResult;
    let ci95: [number, number] | undefined;
    if (a.kind === 'features' && b.kind === 'features') {
      if (resamples > 0) {
        const boot = bootstrapFid(a.features, b.features, {
          resamples,
          seed,
          names,
          onProgress: values.json ? undefined : progressPrinter(io.err, 'bootstrap'),
        });
        result = boot.fid;
        ci95 = boot.ci95;
      } else {
        result = frechetDistance(a.features, b.features, { method: method as 'auto', names });
      }
    } else {
      if (resamples > 0) {
        throw new FidlabError(
          ErrorCode.INVALID_INPUT,
          `--bootstrap needs raw features on both sides; ${a.kind === 'stats' ? a.path : b.path} holds only mu/sigma`,
        );
      }
      const sa = a.kind === 'stats' ? a.stats : featureStats(a.features, a.path);
      const sb = b.kind === 'stats' ? b.stats : featureStats(b.features, b.path);
      result = frechetDistanceFromStats(sa, sb, names);
    }

    if (values.json) {
      io.out(
        JSON.stringify({
          fid: result.fid,
          n1: result.n1,
          n2: result.n2,
          dims: result.dims,
          method: result.method,
          ...(ci95 ? { ci95 } : {}),
        }),
      );
    } else {
      io.out(
        `FID ${fmt(result.fid)}  (method ${result.method}, n1=${result.n1}, n2=${result.n2}, dims=${result.dims})`,
      );
      if (ci95)
        io.out(
          `95% CI [${fmt(ci95[0])}, ${fmt(ci95[1])}]  (${resamples} bootstrap resamples, seed ${seed})`,
        );
      io.out(`  mean term ${fmt(result.meanTerm)}, covariance term ${fmt(result.covarianceTerm)}`);
    }
    if (result.clippedEigenvalues > 0) {
      io.err(
        `note: ${result.clippedEigenvalues} slightly negative eigenvalue(s) (min ${result.minEigenvalue.toExponential(2)}) clipped to 0`,
      );
    }
    return 0;
  },
};
