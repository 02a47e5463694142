import type { Command } from '../command.js';

/**
 * A `fidlab` subcommand as `fidlab --help` lists it; its module (and every lib it imports) is
 * loaded only when the command runs. `summary` repeats the module's own (a test keeps them equal).
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

/** Every `fidlab` subcommand, in the order `fidlab --help` lists them. */
export const commands: CommandEntry[] = [
  {
    name: 'fid',
    summary:
      'Frechet Inception Distance between two feature files (.npy features or .npz mu/sigma) or image folders',
    load: async () => (await import('./fid.js')).fidCommand,
  },
  {
    name: 'kid',
    summary:
      'Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) between two .npy feature files or image folders',
    load: async () => (await import('./kid.js')).kidCommand,
  },
  {
    name: 'rank-k',
    summary: 'rank-k identification accuracy and the CMC curve (probe vs gallery features)',
    load: async () => (await import('./rankK.js')).rankKCommand,
  },
  {
    name: 'stats',
    summary:
      'write pytorch-fid compatible statistics (mu, sigma) of a .npy feature file or an image folder',
    load: async () => (await import('./stats.js')).statsCommand,
  },
  {
    name: 'features',
    summary: 'features of every image in a folder (.npy, one row per image in file-name order)',
    load: async () => (await import('./features.js')).featuresCommand,
  },
  {
    name: 'correlate',
    summary: 'Pearson, Spearman and Kendall tau-b between two metric series (a two-column CSV)',
    load: async () => (await import('./correlate.js')).correlateCommand,
  },
  {
    name: 'data',
    summary: 'make a synthetic face photo/sketch dataset (synth) or validate a dataset (check)',
    load: async () => (await import('./data.js')).data,
  },
  {
    name: 'demo',
    summary:
      'run FID / KID / bootstrap CI / rank-k / correlation on generated features (a quick tour)',
    load: async () => (await import('./demo.js')).demoCommand,
  },
  {
    name: 'run',
    summary:
      'run a sweep file in this process: train every trial, evaluate every epoch, store it all',
    load: async () => (await import('./run.js')).runCommand,
  },
  {
    name: 'worker',
    summary: 'a worker: pull trial and evaluation jobs from NATS, run them, record in the store',
    load: async () => (await import('./worker.js')).workerCommand,
  },
  {
    name: 'workers',
    summary: 'list the live workers (host, GPU, role, current job, last heartbeat), or start some',
    load: async () => (await import('./workers.js')).workersCommand,
  },
  {
    name: 'sweep',
    summary: 'requeue failed trials of a sweep (retry) or list its dead letters',
    load: async () => (await import('./sweep.js')).sweepCommand,
  },
  {
    name: 'best',
    summary: 'the best epoch of a sweep by a metric, its checkpoint and every metric at that epoch',
    load: async () => (await import('./best.js')).bestCommand,
  },
  {
    name: 'runs',
    summary: 'the runs of a sweep: status, last epoch and latest value of each metric',
    load: async () => (await import('./runs.js')).runsCommand,
  },
  {
    name: 'export',
    summary:
      'every epoch of a sweep (parameters, losses, checkpoint, metrics) as CSV or JSON lines',
    load: async () => (await import('./export.js')).exportCommand,
  },
  {
    name: 'report',
    summary:
      'the study report of one or more sweeps: curves with CIs and jumps, best-epoch agreement, metric correlations, CMC, layer separation',
    load: async () => (await import('./report.js')).reportCommand,
  },
  {
    name: 'serve',
    summary:
      'serve the experiment store over HTTP (tRPC at /trpc, progress over SSE, dashboard at /)',
    load: async () => (await import('./serve.js')).serveCommand,
  },
  {
    name: 'token',
    summary: 'API tokens for fidlab serve: create (printed once), list, revoke',
    load: async () => (await import('./token.js')).tokenCommand,
  },
  {
    name: 'store',
    summary: 'check the experiment store for damage, back it up to a file, restore it from one',
    load: async () => (await import('./store.js')).storeCommand,
  },
  {
    name: 'train',
    summary: 'train a generator (pix2pix U-Net, no-skip U-Net, VAE) with a checkpoint per epoch',
    load: async () => (await import('./train.js')).trainCommand,
  },
  {
    name: 'generate',
    summary:
      "write a checkpoint's generated images for a dataset split (PNG, named after the inputs)",
    load: async () => (await import('./generate.js')).generateCommand,
  },
  {
    name: 'weights',
    summary:
      'fetch published network weights (inception|vggface) into the cache, show their path, inspect or convert a weight file',
    load: async () => (await import('./weights.js')).weightsCommand,
  },
];
