import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { isPowerOfTwo, MIN_SIZE, MODEL_NAMES, type ModelConfig } from '@fidlab/models';

export const DIRECTIONS = ['photo2sketch', 'sketch2sketch'] as const;
export type Direction = (typeof DIRECTIONS)[number];
export const GAN_MODES = ['vanilla', 'lsgan', 'none'] as const;
export type GanMode = (typeof GAN_MODES)[number];

/** Where the training pairs come from (`@fidlab/datasets` layouts). */
export const DataConfigSchema = z
  .object({
    root: z.string().min(1),
    /** 'single' (a folder of sketches, no photos) only for sketch2sketch. */
    layout: z.enum(['auto', 'paired', 'aligned', 'single']).default('auto'),
    split: z.string().min(1).default('train'),
    /** Regex pairing photos with sketches by file name (CUFS names differ); default: same basename. */
    pair_pattern: z.string().optional(),
    /** pix2pix resizes to load_size then crops `size`; default round(size * 286 / 256). */
    load_size: z.number().int().positive().optional(),
    /** Random horizontal flips (pix2pix default on). */
    flip: z.boolean().default(true),
  })
  .strict();

/**
 * One training trial: everything that determines its result, stored whole in every checkpoint.
 * Defaults are pix2pix's (`train.py` options) unless a comment says otherwise.
 */
export const TrialConfigSchema = z
  .object({
    model: z.enum(MODEL_NAMES),
    /** photo2sketch: photo in, sketch out; sketch2sketch: the auto-encoder of seed section 4.1. */
    direction: z.enum(DIRECTIONS).default('photo2sketch'),
    size: z.number().int().positive().default(256),
    /** Default 64 for the U-Nets, 32 for the VAE (the seed's plan). */
    ngf: z.number().int().positive().optional(),
    ndf: z.number().int().positive().default(64),
    /** Epochs at the initial learning rate (pix2pix n_epochs, 100). */
    epochs: z.number().int().min(0).default(100),
    /** Epochs of linear decay to 0 after that (pix2pix n_epochs_decay, 100). */
    epochs_decay: z.number().int().min(0).default(0),
    batch_size: z.number().int().positive().default(1),
    lr: z.number().positive().default(2e-4),
    beta1: z.number().min(0).lt(1).default(0.5),
    beta2: z.number().min(0).lt(1).default(0.999),
    lambda_l1: z.number().min(0).default(100),
    /** 'none': reconstruction only (no discriminator), for the auto-encoders. */
    gan_mode: z.enum(GAN_MODES).default('vanilla'),
    /** KL weight for the VAE: SPADE's lambda_kld, where the seed's VAE code comes from. */
    kl_weight: z.number().min(0).default(0.05),
    seed: z.number().int().min(0).default(0),
    data: DataConfigSchema,
    /** RUN_DIR: checkpoints/epoch-0001/..., metrics.jsonl. */
    run_dir: z.string().min(1),
    /**
     * Training state (discriminator + Adam moments) of older epochs: removed once a newer
     * checkpoint is complete ('last'; resuming needs only the newest) or kept ('all'). Generator
     * weights are always kept. At 256 px a full checkpoint is 686 MB, the generator 218 MB.
     */
    keep_state: z.enum(['last', 'all']).default('last'),
    /** Continue from the last complete checkpoint in run_dir. */
    resume: z.boolean().default(false),
  })
  .strict();

export type TrialConfigInput = z.input<typeof TrialConfigSchema>;
/** A parsed trial with every default filled in. */
export type TrialConfig = z.output<typeof TrialConfigSchema> & { ngf: number };

/**
 * Named starting points (explicit settings override them). `tiny` trains in about a minute on a
 * laptop CPU with the wasm backend on `fidlab data synth` data (nanoGPT's Shakespeare config in
 * spirit); `pix2pix` is the published face-sketch recipe (unet_256, 100 + 100 epochs).
 */
export const TRIAL_PRESETS = {
  tiny: { model: 'unet', size: 64, ngf: 8, ndf: 8, epochs: 4, batch_size: 4 },
  pix2pix: { model: 'unet', size: 256, ngf: 64, ndf: 64, epochs: 100, epochs_decay: 100 },
} as const satisfies Record<string, Partial<TrialConfigInput>>;
export type TrialPreset = keyof typeof TRIAL_PRESETS;

/** Trial fields that fix the parameter shapes: a checkpoint must agree on all of them. */
export const ARCHITECTURE_FIELDS = ['model', 'size', 'ngf', 'ndf', 'gan_mode'] as const;

/** Parses and checks a trial (zod shape, then rules across fields); throws INVALID_CONFIG. */
export function parseTrialConfig(input: unknown): TrialConfig {
  const r = TrialConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new FidlabError(ErrorCode.INVALID_CONFIG, `bad trial config: ${issues.join('; ')}`);
  }
  const c = { ...r.data, ngf: r.data.ngf ?? (r.data.model === 'vae' ? 32 : 64) };
  if (!isPowerOfTwo(c.size)) {
    throw new FidlabError(ErrorCode.INVALID_CONFIG, `size must be a power of two, got ${c.size}`);
  }
  if (c.size < MIN_SIZE[c.model]) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `size ${c.size} is too small for model '${c.model}' (minimum ${MIN_SIZE[c.model]})`,
    );
  }
  if (c.epochs + c.epochs_decay < 1) {
    throw new FidlabError(ErrorCode.INVALID_CONFIG, 'epochs + epochs_decay must be at least 1');
  }
  if (c.data.load_size !== undefined && c.data.load_size < c.size) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `data.load_size (${c.data.load_size}) must be >= size (${c.size})`,
    );
  }
  return c;
}

/** The generator's shape-defining config for a trial (RGB in, RGB out). */
export const modelConfigOf = (c: TrialConfig): ModelConfig => ({
  model: c.model,
  size: c.size,
  ngf: c.ngf,
  inChannels: 3,
  outChannels: 3,
});

/** pix2pix's load size for a crop size: 286 for 256. */
export const loadSizeOf = (c: TrialConfig): number =>
  c.data.load_size ?? Math.round((c.size * 286) / 256);
