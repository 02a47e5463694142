// `fidlab train --trial identity ...`: the identity fine-tuning trial of @fidlab/features. The
// train command hands argv here when it sees `--trial identity` (isIdentityTrial).
import { selectBackend } from '@fidlab/models';
import { trainIdentity, type IdentityConfigInput } from '@fidlab/training';
import { numberOption, parse, processIo, UsageError, type Io } from '../command.js';
import { requireInputFile, requireInputFolder, requireOutputFolder } from '../paths.js';

export const TRAIN_IDENTITY_USAGE = `usage: fidlab train --trial identity --data ROOT --out RUN_DIR --epochs N --lr X
                    (--probe-dir DIR | --probe-split NAME) [--gallery-split test] [options]

Fine-tunes a face network as an identity classifier over the training split's identities (seed
section 3) and reports, after every epoch, training accuracy and rank-1/5/10 identification of the
probe images against the gallery (ground-truth sketches). Writes RUN_DIR/checkpoints/epoch-0001/
(identity.json + weights.bin, sha256-checked), usable as --extractor identity:<dir>:<layer>.

  --data ROOT            dataset with identities (manifest identity column or --identity-pattern)
  --out RUN_DIR          run folder (must have no checkpoints unless --resume)
  --epochs N             epochs
  --lr X                 body learning rate (the seed: 1e-7 on VGG-Face)
  --classifier-lr X      learning rate of the new classifier (default: --lr)
  --body B               facerec (default; face-api weights from node_modules) or vggface
                         (vgg_face_dag.pth from the weights cache; fidlab weights fetch vggface)
  --input-size S         facerec input side (default 150, >= 104); vggface is 224
  --weights PATH         other pretrained weights for the body
  --optimizer O          momentum (default, 0.9), sgd or adam
  --momentum M           (default 0.9)
  --batch-size B         (default 16)
  --freeze-through L     freeze the body up to and including layer L (or 'body': all of it)
  --train-split NAME     (default train); --train-images sketches|photos (default sketches)
  --probe-dir DIR        generated sketches, matched to --probe-split's items by file name
  --probe-split NAME     a split's real images as probes (--probe-images sketches|photos)
  --gallery-split NAME   ground-truth sketches (default test)
  --eval-layer L         features compared for rank-k (default: the classifier's input)
  --metric M             cosine (default) or euclidean
  --k LIST               ranks reported (default 1,5,10)
  --checkpoint-every N   write a checkpoint every N epochs and after the last (default 1)
  --resume               continue from the newest complete checkpoint in RUN_DIR (weights,
                         optimizer state, epoch); the newest checkpoint keeps the optimizer state
  --identity-pattern RE  identity from file names when the dataset has no identity column
  --seed S               classifier init, data order, dropout (default 0)
  --backend B            auto (default), gpu, node, wasm, cpu; also FIDLAB_BACKEND
  --json                 print each epoch's result as one JSON line on stdout`;

/** True when argv asks for `--trial identity` (or `--trial=identity`). */
export function isIdentityTrial(argv: string[]): boolean {
  const i = argv.indexOf('--trial');
  return argv.includes('--trial=identity') || (i >= 0 && argv[i + 1] === 'identity');
}

export async function runTrainIdentity(argv: string[], io: Io = processIo): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: {
      trial: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      'classifier-lr': { type: 'string' },
      body: { type: 'string' },
      'input-size': { type: 'string' },
      weights: { type: 'string' },
      optimizer: { type: 'string' },
      momentum: { type: 'string' },
      'batch-size': { type: 'string' },
      'freeze-through': { type: 'string' },
      'train-split': { type: 'string' },
      'train-images': { type: 'string' },
      'probe-dir': { type: 'string' },
      'probe-split': { type: 'string' },
      'probe-images': { type: 'string' },
      'gallery-split': { type: 'string' },
      'eval-layer': { type: 'string' },
      metric: { type: 'string' },
      k: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'identity-pattern': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean', default: false },
      resume: { type: 'boolean', default: false },
    },
  });
  if (values.trial !== 'identity') throw new UsageError(`--trial must be identity here`);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  for (const req of ['data', 'out', 'epochs', 'lr'] as const) {
    if (values[req] === undefined) throw new UsageError(`--${req} is required`);
  }
  if ((values['probe-dir'] === undefined) === (values['probe-split'] === undefined)) {
    throw new UsageError('give one of --probe-dir DIR (generated sketches) or --probe-split NAME');
  }
  const int = (name: keyof typeof values, min: number) =>
    values[name] === undefined
      ? undefined
      : numberOption(values[name] as string, name, 0, { integer: true, min });
  const num = (name: keyof typeof values) =>
    values[name] === undefined
      ? undefined
      : numberOption(values[name] as string, name, 0, { min: 0 });
  requireInputFolder(values.data as string, '--data', 'a dataset folder');
  requireOutputFolder(values.out as string, '--out');
  if (values.weights !== undefined)
    requireInputFile(values.weights, '--weights', 'a weights file (.pth or .safetensors)');
  if (values['probe-dir'] !== undefined)
    requireInputFolder(values['probe-dir'], '--probe-dir', 'a folder of generated sketches');
  const gallerySplit = values['gallery-split'] ?? 'test';
  const probeSplit = values['probe-split'];
  const ks = values.k?.split(',').map((s) => numberOption(s, 'k', 0, { integer: true, min: 1 }));
  const drop = <T extends object>(o: T) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  // zod (identityConfigSchema) checks enums and ranges and names the field.
  const config = {
    data: values.data,
    out: values.out,
    epochs: int('epochs', 1),
    lr: num('lr'),
    ...drop({
      classifierLr: num('classifier-lr'),
      optimizer: values.optimizer,
      momentum: num('momentum'),
      batchSize: int('batch-size', 1),
      freezeThrough: values['freeze-through'],
      identityPattern: values['identity-pattern'],
      checkpointEvery: int('checkpoint-every', 1),
      seed: int('seed', 0),
    }),
    resume: values.resume,
    body: drop({
      kind: values.body,
      inputSize: int('input-size', 1),
      weights: values.weights,
    }),
    train: drop({ split: values['train-split'], images: values['train-images'] }),
    eval: drop({
      probe:
        probeSplit !== undefined
          ? drop({ split: probeSplit, images: values['probe-images'] })
          : { dir: values['probe-dir'] as string, split: gallerySplit },
      gallery: { split: gallerySplit, images: 'sketches' },
      layer: values['eval-layer'],
      metric: values.metric,
      ks,
    }),
  } as IdentityConfigInput;

  const backend = await selectBackend({ backend: values.backend, log: io.err });
  const r = await trainIdentity(config, {
    log: io.err,
    onEpoch: (e) => {
      const ranks = Object.entries(e.rank)
        .map(([k, v]) => `rank-${k} ${(100 * v).toFixed(1)}%`)
        .join(', ');
      io.err(
        `epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, train accuracy ${(100 * e.trainAccuracy).toFixed(1)}%, ${ranks} (${e.seconds.toFixed(1)} s)${e.checkpointDir ? ` -> ${e.checkpointDir}` : ''}`,
      );
      if (values.json) {
        io.out(
          JSON.stringify({
            epoch: e.epoch,
            loss: e.loss,
            trainAccuracy: e.trainAccuracy,
            rank: e.rank,
            checkpoint: e.checkpointDir,
            sha256: e.sha256,
            bytes: e.bytes,
            seconds: e.seconds,
            backend,
          }),
        );
      }
    },
  });
  const best = r.best;
  io.err(
    `fidlab train --trial identity: ${r.classes.length} training identities; ${r.resumedFrom === null ? 'before training' : `at epoch ${r.resumedFrom} (resumed)`} ${Object.entries(
      r.initial.rank,
    )
      .map(([k, v]) => `rank-${k} ${(100 * v).toFixed(1)}%`)
      .join(', ')}` +
      (best
        ? `; best rank-1 ${(100 * (best.rank['1'] ?? best.cmc[0])).toFixed(1)}% at epoch ${best.epoch}${best.checkpointDir ? ` (${best.checkpointDir})` : ''}`
        : ''),
  );
  return 0;
}
