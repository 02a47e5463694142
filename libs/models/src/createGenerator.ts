import { checkTaps, defaultRng, type Generator } from './generator.js';
import { validateModelConfig, type ModelConfig } from './modelConfig.js';
import { ParamBuilder } from './params.js';
import { buildUnet } from './unet.js';
import { buildVae } from './vae.js';

/**
 * Builds a generator with seeded normal(0, 0.02) weights (`init: 'zeros'` skips the draws when
 * the weights are about to be loaded). Throws INVALID_CONFIG for an unknown model or a bad size.
 */
export function createGenerator(
  config: ModelConfig,
  opts: { seed: number; init?: 'normal' | 'zeros' },
): Generator {
  validateModelConfig(config);
  const b = new ParamBuilder(opts.seed, opts.init);
  const net =
    config.model === 'vae' ? buildVae(config, b) : buildUnet(config, b, config.model === 'unet');
  const own = defaultRng(opts.seed);
  const params = b.set;
  return {
    config: { ...config },
    tapNames: net.tapNames,
    params,
    apply(x, o) {
      checkTaps(o.taps, net.tapNames, config.model);
      const ctx = { training: o.training, updateStats: o.updateStats ?? false, rng: o.rng ?? own };
      return net.forward(x, ctx, new Set(o.taps ?? []));
    },
    dispose: () => params.dispose(),
  };
}

/** Parameter count of a model without keeping it (builds with zero weights, then disposes). */
export function countGeneratorParams(config: ModelConfig): number {
  const g = createGenerator(config, { seed: 0, init: 'zeros' });
  const n = g.params.countParams();
  g.dispose();
  return n;
}
