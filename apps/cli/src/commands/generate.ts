import { selectBackend } from '@fidlab/models';
import { generateImages } from '@fidlab/training';
import { numberOption, parse, UsageError, type Command } from '../command.js';
import { progressPrinter } from '../format.js';
import { requireInputFolder, requireOutputFolder } from '../paths.js';
import { resolveCheckpointDir } from './train.js';
import { isCheckpointUri, localCheckpoint } from './artifactCheckpoint.js';
import { BUS_FLAG_OPTIONS, BUS_FLAGS } from './busCommon.js';

export const generateCommand: Command = {
  name: 'generate',
  summary:
    "write a checkpoint's generated images for a dataset split (PNG, named after the inputs)",
  usage: `usage: fidlab generate --checkpoint DIR --data ROOT --split test --out DIR [--eval-mode]
                       [--batch-size B] [--backend B]

Runs the generator of a checkpoint (RUN_DIR/checkpoints/epoch-NNNN, or RUN_DIR for its newest)
over a split and writes one PNG per input to --out, named after the input file (the photo for
photo2sketch, the sketch for sketch2sketch), at the model's size. Inputs are resized straight to
the model size (bicubic, no crop, no flip). Without --eval-mode and --batch-size these are the
images the per-epoch evaluation of \`fidlab run\` measures (the same generation function).

  --checkpoint DIR   checkpoint folder or run folder, or a checkpoint's artifact URI as the store
                     recorded it (file://..., or nats-obj://... read with --nats and --db: fetched
                     to a temporary folder and verified against the recorded sha256)
  --db URL           the store that recorded a nats-obj:// checkpoint (default DATABASE_URL)
  --data ROOT        dataset (default: the one the checkpoint was trained on)
  --split NAME       (default test)
  --out DIR          output folder (created)
  --eval-mode        BatchNorm on its running statistics and no dropout (PyTorch eval()). Without
                     it the generator runs as pix2pix's test.py does by default: BatchNorm on the
                     batch's own statistics and dropout on (masks fixed by the trial seed, so
                     repeated runs give the same images)
  --batch-size B     (default 1; without --eval-mode the batch size changes the outputs)
  --backend B        auto (default), gpu, node, wasm, cpu; also FIDLAB_BACKEND
${BUS_FLAGS}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: {
        checkpoint: { type: 'string' },
        data: { type: 'string' },
        split: { type: 'string', default: 'test' },
        out: { type: 'string' },
        'eval-mode': { type: 'boolean', default: false },
        'batch-size': { type: 'string' },
        backend: { type: 'string' },
        db: { type: 'string' },
        ...BUS_FLAG_OPTIONS,
      },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    if (!values.checkpoint) throw new UsageError('--checkpoint DIR is required');
    if (!values.out) throw new UsageError('--out DIR is required');
    const batchSize = numberOption(values['batch-size'], 'batch-size', 1, {
      integer: true,
      min: 1,
    });
    const uri = isCheckpointUri(values.checkpoint);
    if (!uri) requireInputFolder(values.checkpoint, '--checkpoint', 'a checkpoint or run folder');
    if (values.data !== undefined) requireInputFolder(values.data, '--data', 'a dataset folder');
    requireOutputFolder(values.out);
    await selectBackend({ backend: values.backend, log: io.err });
    const local = uri ? await localCheckpoint(values.checkpoint, values, io.err) : null;
    let r;
    try {
      r = await generateImages({
        checkpoint: local ? local.dir : await resolveCheckpointDir(values.checkpoint),
        data: values.data,
        split: values.split,
        out: values.out,
        evalMode: values['eval-mode'],
        batchSize,
        onProgress: progressPrinter(io.err, 'generate'),
      });
    } finally {
      local?.release();
    }
    io.out(`wrote ${r.written} images (epoch ${r.epoch}) to ${r.out}`);
    return 0;
  },
};
