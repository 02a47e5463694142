import type { IdentityConfigInput, TrialConfigInput } from '@fidlab/training';
import type { Trial } from './expandTrials.js';
import type { SweepSpec } from './sweepSpec.js';

/**
 * The training engine's config for one trial of a sweep: the sweep's data section, the trial's
 * parameters, its own run directory, and `resume` always on (a re-run continues where it stopped).
 */
export function toTrainConfig(
  spec: SweepSpec,
  trial: Pick<Trial, 'parameters'>,
  runDir: string,
): TrialConfigInput {
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

/**
 * The identity fine-tuning engine's config for one trial of an identity sweep, `resume` on as for
 * generator trials.
 */
export function toIdentityConfig(
  spec: SweepSpec,
  trial: Pick<Trial, 'parameters'>,
  runDir: string,
): IdentityConfigInput {
  const p = trial.parameters;
  const id = spec.identity!;
  return {
    data: spec.data.root,
    identityPattern: spec.data.identity_pattern,
    out: runDir,
    body: {
      kind: (p.body ?? 'facerec') as 'facerec' | 'vggface',
      ...(id.input_size ? { inputSize: id.input_size } : {}),
    },
    eval: { probe: id.probe, gallery: id.gallery, ks: id.ks },
    epochs: Number(p.epochs ?? 10),
    batchSize: Number(p.batch_size ?? 16),
    lr: Number(p.lr ?? 1e-4),
    ...(id.classifier_lr ? { classifierLr: id.classifier_lr } : {}),
    optimizer: id.optimizer,
    ...(p.frozen !== undefined ? { frozen: Number(p.frozen) } : {}),
    seed: Number(p.seed ?? 0),
    resume: true,
  };
}
