import {
  checkDataset,
  discoverDataset,
  formatCheckSummary,
  formatProblems,
  LAYOUTS,
  synthDataset,
  type Layout,
} from '@fidlab/datasets';
import { numberOption, parse, UsageError, type Command, type Io } from '../command.js';
import { requireInputFolder, requireOutputFolder } from '../paths.js';

const SYNTH_USAGE = `usage: fidlab data synth --out DIR [--identities N] [--per-identity K] [--size S] [--seed X]
                        [--split-by identity|image] [--test-fraction F] [--format png|jpeg]`;
const CHECK_USAGE = `usage: fidlab data check ROOT [--layout auto|paired|aligned|single] [--pair-pattern RE]
                        [--identity-pattern RE] [--skip-bad] [--max-pixels N]`;

const usage = `${SYNTH_USAGE}
${CHECK_USAGE}

synth   writes a synthetic paired face photo/sketch dataset (train|test/photos|sketches/*.png and
        pairs.csv with photo,sketch,identity,split). Each identity has its own face geometry; its
        images vary pose, expression and lighting. Byte-identical for the same options.
          --identities N      identities (default 50)
          --per-identity K    pairs per identity (default 4)
          --size S            image side in pixels (default 256)
          --seed X            (default 0)
          --split-by          identity: test identities are unseen in train (default); image: each
                              identity in both splits
          --test-fraction F   share of identities (or images) in test (default 0.25)
          --format            png (default) or jpeg (quality 90)

check   decodes every image of a dataset and prints counts per split, identities, sizes and
        channels; exits 1 listing every problem (path: reason) when there is one.
          --layout            auto (default): pairs.csv or <split>/photos + <split>/sketches are
                              paired, split folders of 2:1 images aligned (pix2pix AB), a folder of
                              images single
          --pair-pattern RE   pair photos and sketches whose names give the same key (capture
                              groups, case-insensitive), e.g. '^([fm])\\d?-(\\d+-\\d+)' for CUFS
          --identity-pattern RE  identity from the photo's file name (pairs.csv wins)
          --skip-bad          unreadable images are reported as skipped, not as problems
          --max-pixels N      refuse images with more pixels (default sharp's 268402689)`;

async function synth(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      identities: { type: 'string' },
      'per-identity': { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string' },
      'split-by': { type: 'string' },
      'test-fraction': { type: 'string' },
      format: { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (!values.out) throw new UsageError('--out DIR is required');
  const splitBy = values['split-by'] ?? 'identity';
  if (splitBy !== 'identity' && splitBy !== 'image') {
    throw new UsageError(`--split-by must be identity or image, got '${splitBy}'`);
  }
  const format = values.format ?? 'png';
  if (format !== 'png' && format !== 'jpeg') {
    throw new UsageError(`--format must be png or jpeg, got '${format}'`);
  }
  const testFraction = numberOption(values['test-fraction'], 'test-fraction', 0.25, { min: 0 });
  if (testFraction >= 1) throw new UsageError(`--test-fraction must be < 1, got '${testFraction}'`);
  requireOutputFolder(values.out);
  const t0 = performance.now();
  const r = await synthDataset({
    out: values.out,
    identities: numberOption(values.identities, 'identities', 50, { integer: true, min: 1 }),
    perIdentity: numberOption(values['per-identity'], 'per-identity', 4, { integer: true, min: 1 }),
    size: numberOption(values.size, 'size', 256, { integer: true, min: 16 }),
    seed: numberOption(values.seed, 'seed', 0, { integer: true, min: 0 }),
    splitBy,
    testFraction,
    format,
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  io.out(
    `wrote ${r.pairs} pairs (train ${r.splits.train}, test ${r.splits.test}) to ${r.root} in ${secs} s`,
  );
  return 0;
}

async function check(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: {
      layout: { type: 'string' },
      'pair-pattern': { type: 'string' },
      'identity-pattern': { type: 'string' },
      'skip-bad': { type: 'boolean' },
      'max-pixels': { type: 'string' },
    },
  });
  if (positionals.length !== 1)
    throw new UsageError(`expected one ROOT, got ${positionals.length}`);
  const layout = values.layout ?? 'auto';
  if (layout !== 'auto' && !LAYOUTS.includes(layout as Layout)) {
    throw new UsageError(`--layout must be auto, ${LAYOUTS.join(', ')}; got '${layout}'`);
  }
  requireInputFolder(positionals[0], '', 'a dataset folder');
  const index = await discoverDataset(positionals[0], {
    layout: layout as Layout | 'auto',
    pairPattern: values['pair-pattern'],
    identityPattern: values['identity-pattern'],
  });
  if (index.ignored.length > 0) {
    io.err(`warning: ignored ${index.ignored.length} non-image file(s), e.g. ${index.ignored[0]}`);
  }
  const report = await checkDataset(index, {
    skipBad: values['skip-bad'] ?? false,
    maxPixels: values['max-pixels']
      ? numberOption(values['max-pixels'], 'max-pixels', 0, { integer: true, min: 1 })
      : undefined,
  });
  for (const line of formatCheckSummary(report)) io.out(line);
  if (report.ok) {
    io.out('ok');
    return 0;
  }
  io.err(`${report.problems.length} problem(s):`);
  for (const line of formatProblems(report.problems)) io.err(`  ${line}`);
  return 1;
}

export const data: Command = {
  name: 'data',
  summary: 'make a synthetic face photo/sketch dataset (synth) or validate a dataset (check)',
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    if (action === 'synth') return synth(rest, io);
    if (action === 'check') return check(rest, io);
    throw new UsageError(
      action === undefined
        ? 'expected synth or check'
        : `unknown action '${action}' (synth, check)`,
    );
  },
};
