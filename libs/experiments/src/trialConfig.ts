import type { TrialConfigInput } from '@fidlab/training';
import type { Trial } from './expandTrials.js';
import type { SweepSpec } from './sweepSpec.js';

/**
 * The training engine's config for one trial of a sweep: the sweep's data section, the trial's
 * parameters, its own run directory, and `resume` always on (a re-run continues where it stopped).
 */
export function toTrainConfig(spec: SweepSpec, trial: Trial, runDir: string): TrialConfigInput {
  const { body: _body, frozen: _frozen, ...p } = trial.parameters;
  return {
    ...(p as Partial<TrialConfigInput>),
    model: (p.model ?? 'unet') as TrialConfigInput['model'],
    size: spec.data.size,
    data: {
      root: spec.data.root,
      layout: spec.data.layout === 'single' ? 'auto' : spec.data.layout,
      split: 'train',
      ...(spec.data.pair_pattern ? { pair_pattern: spec.data.pair_pattern } : {}),
    },
    run_dir: runDir,
    resume: true,
  };
}
