import { ErrorCode, FidlabError } from '@fidlab/base';

/** Generator architectures. */
export const MODEL_NAMES = ['unet', 'unet-noskip', 'vae'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Everything that fixes a generator's parameter shapes (a checkpoint must match it exactly). */
export interface ModelConfig {
  model: ModelName;
  /** Input and output height = width; a power of two. */
  size: number;
  /** Width of the last decoder layer (pix2pix's ngf; 64 for the U-Nets, 32 in the seed's VAE). */
  ngf: number;
  inChannels: number;
  outChannels: number;
}

/** Smallest size per model: a U-Net needs its four outer blocks plus the innermost one. */
export const MIN_SIZE: Record<ModelName, number> = {
  unet: 32,
  'unet-noskip': 32,
  // Six stride-2 encoder convolutions leave at least 1 x 1.
  vae: 64,
};

export const isPowerOfTwo = (n: number): boolean =>
  Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Throws INVALID_CONFIG naming the bad field; returns the config otherwise. */
export function validateModelConfig(c: ModelConfig): ModelConfig {
  if (!(MODEL_NAMES as readonly string[]).includes(c.model)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `unknown model '${c.model}' (models: ${MODEL_NAMES.join(', ')})`,
    );
  }
  if (!isPowerOfTwo(c.size)) {
    throw new FidlabError(ErrorCode.INVALID_CONFIG, `size must be a power of two, got ${c.size}`);
  }
  if (c.size < MIN_SIZE[c.model]) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `size ${c.size} is too small for model '${c.model}' (minimum ${MIN_SIZE[c.model]})`,
    );
  }
  for (const k of ['ngf', 'inChannels', 'outChannels'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) {
      throw new FidlabError(ErrorCode.INVALID_CONFIG, `${k} must be an integer >= 1, got ${c[k]}`);
    }
  }
  return c;
}

/** A one-line description for messages: "unet 256px ngf 64 (3->3)". */
export const describeModel = (c: ModelConfig): string =>
  `${c.model} ${c.size}px ngf ${c.ngf} (${c.inChannels}->${c.outChannels} channels)`;
