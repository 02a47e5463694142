import { identityBodyResize, type ValueRecipe } from '@fidlab/features';
import { IDENTITY_BODY_INPUT } from '@fidlab/models';
import type { IdentityConfigInput, IdentityEpochResult } from '@fidlab/training';
import type { MetricValue } from './metricValues.js';
import type { JsonValue } from './ports.js';

/**
 * The evaluation protocol of an identity trial's own values (rank-k of its probe set against its
 * gallery with the network it is training, training accuracy, loss). They carry no
 * `extra.protocol` (recorded values count as 1); their recipe says 1.
 */
export const IDENTITY_EVALUATION_PROTOCOL = 1;

/**
 * rank_<k> (per k), train_accuracy and loss of one identity epoch, each with its complete recipe
 * (`extra.recipe`): the trial's own network (by body), its input resize, the probe and gallery.
 */
export function identityMetricValues(
  e: IdentityEpochResult,
  config: Pick<IdentityConfigInput, 'body' | 'eval'>,
): MetricValue[] {
  const kind = config.body?.kind ?? 'facerec';
  const inputSize = config.body?.inputSize ?? IDENTITY_BODY_INPUT[kind];
  const common = {
    extractor: { family: 'trial-network', body: kind },
    weights_sha256: null,
    resize: identityBodyResize({ kind, inputSize }),
    protocol: IDENTITY_EVALUATION_PROTOCOL,
    data: {
      probe: config.eval.probe as JsonValue,
      gallery: (config.eval.gallery ?? null) as JsonValue,
    },
  } as const;
  const recipe = (r: ValueRecipe) => ({ recipe: r as unknown as JsonValue });
  return [
    ...Object.entries(e.rank).map(([k, v]) => ({
      name: `rank_${k}`,
      value: v,
      extractor: `identity:${kind}`,
      n1: 0,
      n2: 0,
      extra: recipe({ kind: 'rank-k', k: Number(k), ...common }),
    })),
    {
      name: 'train_accuracy',
      value: e.trainAccuracy,
      extractor: '',
      n1: 0,
      n2: 0,
      extra: recipe({ kind: 'train-accuracy', ...common }),
    },
    {
      name: 'loss',
      value: e.loss,
      extractor: '',
      n1: 0,
      n2: 0,
      extra: recipe({ kind: 'train-loss', ...common }),
    },
  ];
}
