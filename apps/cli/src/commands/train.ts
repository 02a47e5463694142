import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_NAMES, selectBackend } from '@fidlab/models';
import {
  DIRECTIONS,
  GAN_MODES,
  listCheckpoints,
  TRIAL_PRESETS,
  readCheckpoint,
  train,
  type TrialConfigInput,
} from '@fidlab/training';
import { numberOption, parse, processIo, UsageError, type Command } from '../command.js';
import { requireInputFolder, requireOutputFolder } from '../paths.js';
import { isIdentityTrial, runTrainIdentity, TRAIN_IDENTITY_USAGE } from './trainIdentity.js';
import { epochLine, stepReporter } from './trainProgress.js';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a generator (pix2pix U-Net, no-skip U-Net, VAE) with a checkpoint per epoch',
  usage: `usage: fidlab train --data ROOT --model unet|unet-noskip|vae --direction photo2sketch|sketch2sketch
                    --size 64 --epochs N [--epochs-decay M] [--batch-size B] [--ngf 64] [--seed S]
                    --out RUN_DIR [--resume] [options]

Writes RUN_DIR/checkpoints/epoch-0001/ (generator, discriminator and optimizer weights as
safetensors + manifest.json with the trial config, RNG scheme, dataset fingerprint and each file's
sha256; written atomically) after every epoch, and one JSON line per epoch to RUN_DIR/metrics.jsonl.
Defaults are pix2pix's: GAN (vanilla) + 100 x L1, Adam 2e-4 / beta1 0.5, batch size 1.

  --data ROOT          paired dataset (see fidlab data check); the train split is used
  --preset P           tiny (64 px unet, ngf 8, 4 epochs, batch 4: about a minute on a laptop CPU
                       with the wasm backend) or pix2pix (256 px unet_256, 100 + 100 epochs);
                       options given with it override it
  --model M            unet (pix2pix unet_256 at 256 px), unet-noskip, vae (the seed's VAE, size >= 64)
  --direction D        photo2sketch (default) or sketch2sketch (an auto-encoder on the sketches)
  --size S             image size, a power of two (default 256)
  --epochs N           epochs at the initial learning rate (default 100)
  --epochs-decay M     further epochs with the learning rate falling linearly to 0 (default 0)
  --batch-size B       (default 1)
  --ngf N / --ndf N    generator / discriminator width (default 64; the VAE's ngf defaults to 32)
  --seed S             weights, data order, crops, dropout (default 0)
  --out RUN_DIR        run folder (must have no checkpoints unless --resume)
  --resume             continue from the last complete checkpoint in RUN_DIR (exact: the result
                       equals an uninterrupted run); its saved settings are the defaults, so
                       \`fidlab train --out RUN_DIR --resume\` is enough, or add --epochs to extend
  --gan-mode G         vanilla (default), lsgan, or none (reconstruction only, no discriminator)
  --lr X               initial learning rate (default 0.0002)
  --beta1 X            Adam beta1 (default 0.5)
  --lambda-l1 X        L1 weight (default 100)
  --kl-weight X        VAE KL weight (default 0.05)
  --split NAME         training split (default train)
  --layout L           auto (default), paired, aligned, or single (a folder of sketches, for
                       sketch2sketch)
  --pair-pattern RE    pair photos and sketches by this file-name regex (see fidlab data check)
  --no-flip            no random horizontal flips
  --keep-state last|all  keep the discriminator and optimizer state of every epoch (all), or only
                       of the newest, which is all resuming needs (last, default; the generator
                       weights of every epoch are always kept)
  --backend B          auto (default: tfjs-node-gpu > tfjs-node > wasm > cpu), gpu, node, wasm, cpu;
                       also FIDLAB_BACKEND
  --json               print each epoch's result as one JSON line on stdout

Ctrl-C stops after the current step; the last complete checkpoint stays and --resume continues.
A NaN/Inf loss stops the run (exit 1) naming the epoch and step.

${TRAIN_IDENTITY_USAGE}`,
  async run(argv, io) {
    // Identity fine-tuning (seed section 3) has its own options; it shares the command name.
    if (isIdentityTrial(argv)) return runTrainIdentity(argv, io);
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: {
        data: { type: 'string' },
        model: { type: 'string' },
        preset: { type: 'string' },
        direction: { type: 'string' },
        size: { type: 'string' },
        epochs: { type: 'string' },
        'epochs-decay': { type: 'string' },
        'batch-size': { type: 'string' },
        ngf: { type: 'string' },
        ndf: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        resume: { type: 'boolean', default: false },
        'gan-mode': { type: 'string' },
        lr: { type: 'string' },
        beta1: { type: 'string' },
        'lambda-l1': { type: 'string' },
        'kl-weight': { type: 'string' },
        split: { type: 'string' },
        layout: { type: 'string' },
        'pair-pattern': { type: 'string' },
        'no-flip': { type: 'boolean', default: false },
        'keep-state': { type: 'string' },
        backend: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    if (!values.out) throw new UsageError('--out RUN_DIR is required');
    const oneOf = (v: string | undefined, name: string, known: readonly string[]) => {
      if (v !== undefined && !known.includes(v)) {
        throw new UsageError(`--${name} must be one of ${known.join(', ')}, got '${v}'`);
      }
      return v;
    };
    const int = (name: keyof typeof values, min: number) =>
      values[name] === undefined
        ? undefined
        : numberOption(values[name] as string, name, 0, { integer: true, min });
    const num = (name: keyof typeof values) =>
      values[name] === undefined
        ? undefined
        : numberOption(values[name] as string, name, 0, { min: 0 });

    // --resume: the saved trial is the base; options given now override it.
    const preset = oneOf(values.preset, 'preset', Object.keys(TRIAL_PRESETS));
    let base: Partial<TrialConfigInput> = preset
      ? { ...TRIAL_PRESETS[preset as keyof typeof TRIAL_PRESETS] }
      : {};
    if (values.resume) {
      const [newest] = await listCheckpoints(values.out);
      if (newest) base = { ...base, ...(await readCheckpoint(newest.dir)).manifest.config };
      else io.err(`fidlab train: no checkpoint in ${values.out} yet: starting at epoch 1`);
    }
    const explicit: Partial<TrialConfigInput> = {
      model: oneOf(values.model, 'model', MODEL_NAMES) as TrialConfigInput['model'] | undefined,
      direction: oneOf(values.direction, 'direction', DIRECTIONS) as TrialConfigInput['direction'],
      size: int('size', 1),
      epochs: int('epochs', 0),
      epochs_decay: int('epochs-decay', 0),
      batch_size: int('batch-size', 1),
      ngf: int('ngf', 1),
      ndf: int('ndf', 1),
      seed: int('seed', 0),
      gan_mode: oneOf(values['gan-mode'], 'gan-mode', GAN_MODES) as TrialConfigInput['gan_mode'],
      lr: num('lr'),
      beta1: num('beta1'),
      lambda_l1: num('lambda-l1'),
      kl_weight: num('kl-weight'),
      keep_state: oneOf(values['keep-state'], 'keep-state', ['last', 'all']) as 'last' | undefined,
    };
    const data = {
      ...(base.data ?? {}),
      ...(values.data !== undefined ? { root: values.data } : {}),
      ...(values.split !== undefined ? { split: values.split } : {}),
      ...(values.layout !== undefined
        ? {
            layout: oneOf(values.layout, 'layout', [
              'auto',
              'paired',
              'aligned',
              'single',
            ]) as 'auto',
          }
        : {}),
      ...(values['pair-pattern'] !== undefined ? { pair_pattern: values['pair-pattern'] } : {}),
      ...(values['no-flip'] ? { flip: false } : {}),
    };
    if (!data.root) throw new UsageError('--data ROOT is required');
    requireInputFolder(data.root, '--data', 'a dataset folder');
    requireOutputFolder(values.out, '--out');
    const config = {
      ...base,
      ...Object.fromEntries(Object.entries(explicit).filter(([, v]) => v !== undefined)),
      data,
      run_dir: values.out,
      resume: values.resume,
    } as TrialConfigInput;
    if (!config.model) {
      throw new UsageError(`--model is required (models: ${MODEL_NAMES.join(', ')})`);
    }

    const backend = await selectBackend({ backend: values.backend, log: io.err });
    const tty = io === processIo && process.stderr.isTTY ? process.stderr : null;
    const progress = stepReporter(tty, io.err);
    const ac = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      progress.clear();
      io.err('fidlab train: stopping after this step (Ctrl-C again to quit now)');
      ac.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      const r = await train(config, {
        signal: ac.signal,
        log: (l) => {
          progress.clear();
          io.err(l);
        },
        onStep: (p) => progress.step(p),
        onEpoch: (e) => {
          progress.clear();
          io.err(epochLine(e));
          if (values.json) {
            io.out(
              JSON.stringify({
                epoch: e.epoch,
                losses: e.losses,
                lr: e.lr,
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
      progress.clear();
      if (r.status === 'aborted') {
        io.err(
          `fidlab train: stopped at epoch ${r.epoch}; continue with fidlab train --out ${values.out} --resume`,
        );
        return 130;
      }
      io.err(
        `fidlab train: done, epoch ${r.epoch}; last checkpoint ${r.lastCheckpoint ?? '(none)'}; metrics ${join(r.runDir, 'metrics.jsonl')}`,
      );
      return 0;
    } finally {
      progress.clear();
      process.off('SIGINT', onSigint);
    }
  },
};

/** A checkpoint folder, or a run folder (its newest checkpoint). */
export async function resolveCheckpointDir(dir: string): Promise<string> {
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  const [newest] = await listCheckpoints(dir);
  return newest ? newest.dir : dir; // loadCheckpoint names the problem
}
