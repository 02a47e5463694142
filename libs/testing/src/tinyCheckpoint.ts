// A tiny trained generator checkpoint for tests that evaluate, tap or resume one. It is made by
// the `fidlab` CLI in a child process (`data synth`, then `train`), not by importing the training
// lib: the libs below training use these helpers in their own tests, and a static import would
// make the dependency graph circular.
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
}

export interface TinyCheckpoint {
  /** The synthetic paired dataset it was trained on (4 identities x 2, 48 px, half test). */
  data: string;
  /** The run folder (`fidlab train --out`). */
  runDir: string;
  /** The last checkpoint folder (`<runDir>/checkpoints/epoch-000N`). */
  checkpoint: string;
}

/**
 * Synthesises a small paired dataset in `dir/data` and trains a narrow generator on it
 * (ngf = ndf = 4, batch 2, wasm backend) into `dir/run`: a few seconds on a CPU.
 */
export function tinyCheckpoint(dir: string, opts: TinyCheckpointOptions = {}): TinyCheckpoint {
  const data = join(dir, 'data');
  const runDir = join(dir, 'run');
  const seed = String(opts.seed ?? 3);
  fidlabCli([
    'data',
    'synth',
    '--out',
    data,
    '--identities',
    '4',
    '--per-identity',
    '2',
    '--size',
    '48',
    '--seed',
    '5',
    '--test-fraction',
    '0.5',
  ]);
  fidlabCli([
    'train',
    '--data',
    data,
    '--model',
    opts.model ?? 'unet',
    '--size',
    String(opts.size ?? 32),
    '--ngf',
    '4',
    '--ndf',
    '4',
    '--epochs',
    String(opts.epochs ?? 1),
    '--batch-size',
    '2',
    '--seed',
    seed,
    '--out',
    runDir,
    '--backend',
    'wasm',
  ]);
  const epochs = readdirSync(join(runDir, 'checkpoints'))
    .filter((n) => n.startsWith('epoch-'))
    .sort();
  if (epochs.length === 0) throw new Error(`fidlab train wrote no checkpoint in ${runDir}`);
  return { data, runDir, checkpoint: join(runDir, 'checkpoints', epochs[epochs.length - 1]) };
}
