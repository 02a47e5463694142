// A tiny trained generator checkpoint for tests that evaluate, tap or resume one. It is made by
// the `fidlab` CLI in a child process (`data synth`, then `train`), not by importing the training
// lib: the libs below training use these helpers in their own tests, and a static import would
// make the dependency graph circular. Suites that load training anyway make the same checkpoint
// in their own process (tinyCheckpointInProcess), handing in the two functions it needs.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEV_FIDLAB = fileURLToPath(new URL('../../../tools/dev-fidlab.ts', import.meta.url));

/** Runs `fidlab ARGS...` from the sources; throws with its stderr when it fails. */
export function fidlabCli(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@fidlab/source', DEV_FIDLAB, ...args],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) {
    throw new Error(`fidlab ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  return { stdout: r.stdout, stderr: r.stderr };
}

export interface TinyCheckpointOptions {
  /** Model kind (default unet). */
  model?: 'unet' | 'unet-noskip' | 'vae';
  /** Image size of the model (default 32; the VAE needs >= 64). */
  size?: number;
  /** Epochs (default 1). */
  epochs?: number;
  seed?: number;
  /** Identities in the synthetic data set (default 4). */
  identities?: number;
  /** Images per identity (default 2). */
  perIdentity?: number;
  /** Share of the identities in the test split (default 0.5). */
  testFraction?: number;
}

export interface TinyCheckpoint {
  /** The synthetic paired dataset trained on (48 px; default 4 identities x 2, half test). */
  data: string;
  /** The run folder (`fidlab train --out`). */
  runDir: string;
  /** The last checkpoint folder (`<runDir>/checkpoints/epoch-000N`). */
  checkpoint: string;
}

/** The data set and the training, as synthDataset (@fidlab/datasets) and train take them. */
function tinySetup(dir: string, opts: TinyCheckpointOptions) {
  const data = join(dir, 'data');
  return {
    synth: {
      out: data,
      identities: opts.identities ?? 4,
      perIdentity: opts.perIdentity ?? 2,
      size: 48,
      seed: 5,
      testFraction: opts.testFraction ?? 0.5,
    },
    train: {
      model: opts.model ?? 'unet',
      direction: 'photo2sketch' as const,
      size: opts.size ?? 32,
      ngf: 4,
      ndf: 4,
      epochs: opts.epochs ?? 1,
      batch_size: 2,
      seed: opts.seed ?? 3,
      data: { root: data },
      run_dir: join(dir, 'run'),
    },
  };
}

/**
 * Synthesises a small paired dataset in `dir/data` and trains a narrow generator on it
 * (ngf = ndf = 4, batch 2, wasm backend) into `dir/run`: a few seconds on a CPU.
 */
export function tinyCheckpoint(dir: string, opts: TinyCheckpointOptions = {}): TinyCheckpoint {
  const { synth, train } = tinySetup(dir, opts);
  fidlabCli([
    'data',
    'synth',
    '--out',
    synth.out,
    '--identities',
    String(synth.identities),
    '--per-identity',
    String(synth.perIdentity),
    '--size',
    String(synth.size),
    '--seed',
    String(synth.seed),
    '--test-fraction',
    String(synth.testFraction),
  ]);
  fidlabCli([
    'train',
    '--data',
    train.data.root,
    '--model',
    train.model,
    '--size',
    String(train.size),
    '--ngf',
    String(train.ngf),
    '--ndf',
    String(train.ndf),
    '--epochs',
    String(train.epochs),
    '--batch-size',
    String(train.batch_size),
    '--seed',
    String(train.seed),
    '--out',
    train.run_dir,
    '--backend',
    'wasm',
  ]);
  const epochs = readdirSync(join(train.run_dir, 'checkpoints'))
    .filter((n) => n.startsWith('epoch-'))
    .sort();
  if (epochs.length === 0) throw new Error(`fidlab train wrote no checkpoint in ${train.run_dir}`);
  return {
    data: synth.out,
    runDir: train.run_dir,
    checkpoint: join(train.run_dir, 'checkpoints', epochs[epochs.length - 1]),
  };
}

/** The two functions tinyCheckpointInProcess calls (pass `{ synthDataset, train }`). */
export interface TinyCheckpointLibs {
  synthDataset(o: ReturnType<typeof tinySetup>['synth']): Promise<unknown>;
  train(c: ReturnType<typeof tinySetup>['train']): Promise<{ lastCheckpoint: string | null }>;
}

/**
 * tinyCheckpoint in this process, on the tfjs backend the caller selected: for suites that import
 * the training lib anyway (no CLI child processes to start).
 */
export async function tinyCheckpointInProcess(
  dir: string,
  libs: TinyCheckpointLibs,
  opts: TinyCheckpointOptions = {},
): Promise<TinyCheckpoint> {
  const { synth, train } = tinySetup(dir, opts);
  await libs.synthDataset(synth);
  const { lastCheckpoint } = await libs.train(train);
  if (!lastCheckpoint) throw new Error(`train wrote no checkpoint in ${train.run_dir}`);
  return { data: synth.out, runDir: train.run_dir, checkpoint: lastCheckpoint };
}
