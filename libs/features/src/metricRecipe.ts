// The metric recipe: one typed description of how a metric value is made, parsed in one place.
// Extractor names (`inception:768`, `vggface:fc6`, `generator:DIR:en7:avg`, ...) stay the form
// users write in sweep files, jobs and on the command line; `parseExtractorName` turns them into
// an `ExtractorRecipe` (what the registry builds from) and `formatExtractor` turns one back into
// its canonical name. Every stored value carries a `ValueRecipe` (`extra.recipe`): everything that
// changes the number for the same images, so that two values are comparable exactly when their
// recipes match (`recipesMatch`), the way clean-fid names its statistics files after every setting
// that changes the score. This module loads nothing but zod (the API and the CLI import it through
// `@fidlab/features/recipe` without loading tfjs).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';

/** InceptionV3 taps by feature dimension (pytorch-fid's `--dims`); 2048 is pool3. */
export const INCEPTION_TAP_DIMS = [64, 192, 768, 2048] as const;
/** VGG-Face layers a `vggface:<layer>` name may tap. */
export const VGGFACE_LAYERS = [
  'conv5_3',
  'pool5',
  'pool5-avg',
  'fc6',
  'relu6',
  'fc7',
  'relu7',
] as const;
/** face-api recognition net layers: the 128-d descriptor, or the 256-d pool before the fc. */
export const FACEREC_LAYERS = ['embedding', 'pool'] as const;

const inceptionRecipe = z.strictObject({
  family: z.literal('inception'),
  dims: z.union(INCEPTION_TAP_DIMS.map((d) => z.literal(d))),
});
const vggfaceRecipe = z.strictObject({
  family: z.literal('vggface'),
  layer: z.enum(VGGFACE_LAYERS),
});
const facerecRecipe = z.strictObject({
  family: z.literal('facerec'),
  layer: z.enum(FACEREC_LAYERS),
});
/** A generator checkpoint's encoder tap (en1..en8, mu), optionally average-pooled to a vector. */
const generatorRecipe = z.strictObject({
  family: z.literal('generator'),
  checkpoint: z.string().min(1),
  tap: z.string().min(1),
  pool: z.boolean(),
});
/** A checkpoint of an identity fine-tuning trial; its layers depend on its body (checked on load). */
const identityRecipe = z.strictObject({
  family: z.literal('identity'),
  checkpoint: z.string().min(1),
  layer: z.string().min(1),
});
/**
 * The network an identity fine-tuning trial is training, measured by the trial itself after each
 * epoch: the body names it (its weights change every epoch, so it has no weights hash of its own).
 */
const trialNetworkRecipe = z.strictObject({
  family: z.literal('trial-network'),
  body: z.enum(['facerec', 'vggface']),
});

/** An extractor a user can name (`parseExtractorName` makes these; the registry builds them). */
export const extractorRecipeSchema = z.discriminatedUnion('family', [
  inceptionRecipe,
  vggfaceRecipe,
  facerecRecipe,
  generatorRecipe,
  identityRecipe,
]);
export type ExtractorRecipe = z.infer<typeof extractorRecipeSchema>;
export type ExtractorFamilyName = ExtractorRecipe['family'];

/** What produced the features of a stored value: a named extractor or a trial's own network. */
export const featureSourceSchema = z.discriminatedUnion('family', [
  inceptionRecipe,
  vggfaceRecipe,
  facerecRecipe,
  generatorRecipe,
  identityRecipe,
  trialNetworkRecipe,
]);
export type FeatureSource = z.infer<typeof featureSourceSchema>;

/** The name forms fidlab knows (listed in errors). */
export const EXTRACTOR_FORMS = [
  'inception',
  'inception-pool3',
  `inception:${INCEPTION_TAP_DIMS.join('|')}`,
  `vggface:${VGGFACE_LAYERS.join('|')}`,
  'facerec',
  'facerec:pool',
  'generator:<checkpoint-dir>:<tap>[:avg]',
  'identity:<checkpoint-dir>:<layer>',
] as const;

/** Other spellings of canonical names. */
const ALIASES: Record<string, string> = {
  'inception-pool3': 'inception:2048',
  'inception:pool3': 'inception:2048',
  inception: 'inception:2048',
  'facerec:embedding': 'facerec',
};

/** Every name (and name form) fidlab knows, as listed in the unknown-name error. */
export const KNOWN_EXTRACTOR_NAMES = [
  'inception',
  ...INCEPTION_TAP_DIMS.map((d) => `inception:${d}`),
  ...VGGFACE_LAYERS.map((l) => `vggface:${l}`),
  'facerec',
  'facerec:pool',
  'generator:<checkpoint-dir>:<tap>',
  'generator:<checkpoint-dir>:<tap>:avg',
  'identity:<checkpoint-dir>:<layer>',
  'inception-pool3',
] as const;

type Parsed = { recipe: ExtractorRecipe } | { problem: string };

function parse(name: string): Parsed {
  const bad = (detail: string): Parsed => ({ problem: `unknown extractor '${name}': ${detail}` });
  const canonical = ALIASES[name] ?? name;
  const colon = canonical.indexOf(':');
  const family = colon < 0 ? canonical : canonical.slice(0, colon);
  const arg = colon < 0 ? undefined : canonical.slice(colon + 1);
  switch (family) {
    case 'inception': {
      const dims = INCEPTION_TAP_DIMS.find((d) => String(d) === arg);
      return dims === undefined
        ? bad(`the dims must be one of ${INCEPTION_TAP_DIMS.join(', ')}`)
        : { recipe: { family, dims } };
    }
    case 'vggface': {
      const layer = VGGFACE_LAYERS.find((l) => l === arg);
      return layer === undefined
        ? bad(`the layer must be one of ${VGGFACE_LAYERS.join(', ')}`)
        : { recipe: { family, layer } };
    }
    case 'facerec':
      if (arg === undefined) return { recipe: { family, layer: 'embedding' } };
      return arg === 'pool' ? { recipe: { family, layer: 'pool' } } : bad(`unknown layer '${arg}'`);
    case 'generator':
    case 'identity': {
      // DIR:tap or DIR:tap:avg; the directory may itself contain ':'.
      const parts = (arg ?? '').split(':');
      const avg = parts.length >= 3 && parts[parts.length - 1] === 'avg';
      if (avg) parts.pop();
      const tap = parts.pop() ?? '';
      const checkpoint = parts.join(':');
      if (!checkpoint || !tap)
        return bad(
          `expected ${family}:<checkpoint-dir>:<layer>${family === 'generator' ? '[:avg]' : ''}`,
        );
      if (family === 'identity')
        return avg
          ? bad("':avg' applies to generator taps only")
          : { recipe: { family, checkpoint, layer: tap } };
      return { recipe: { family, checkpoint, tap, pool: avg } };
    }
    default:
      return {
        problem: `unknown feature extractor '${name}'; known: ${KNOWN_EXTRACTOR_NAMES.join(', ')}`,
      };
  }
}

/** Why an extractor name is not one fidlab knows, or null when it is fine. */
export function extractorNameProblem(name: string): string | null {
  const r = parse(name);
  return 'problem' in r ? r.problem : null;
}

/** The typed recipe of an extractor name; FidlabError INVALID_CONFIG naming the name otherwise. */
export function parseExtractorName(name: string): ExtractorRecipe {
  const r = parse(name);
  if ('problem' in r) throw new FidlabError(ErrorCode.INVALID_CONFIG, r.problem);
  return r.recipe;
}

/** The canonical name of an extractor (what `FeatureExtractor.name` says). */
export function formatExtractor(r: ExtractorRecipe): string {
  switch (r.family) {
    case 'inception':
      return `inception:${r.dims}`;
    case 'vggface':
      return `vggface:${r.layer}`;
    case 'facerec':
      return r.layer === 'embedding' ? 'facerec' : 'facerec:pool';
    case 'generator':
      return `generator:${r.checkpoint}:${r.tap}${r.pool ? ':avg' : ''}`;
    case 'identity':
      return `identity:${r.checkpoint}:${r.layer}`;
  }
}

/** A zod string that must be an extractor name (the sweep file and job schemas use it). */
export const extractorName = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    const problem = extractorNameProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: s });
  });

// ---- metric kinds and their options (what a sweep's metric or a job's metric sets) ----------

/** rank-k's ks when a metric names none. */
export const DEFAULT_RANK_KS = [1, 5, 10] as const;

const positiveInt = z.number().int().min(1);

/** Options of each metric kind, as object shapes to extend (the discriminant is `kind`). */
export const METRIC_KIND_OPTIONS = {
  fid: {
    kind: z.literal('fid'),
    /** Bootstrap resamples for a 95% interval (0 or absent: none; 1 is treated as none). */
    bootstrap: z.number().int().min(0).optional(),
  },
  kid: {
    kind: z.literal('kid'),
    /** Rows per subset, capped by the smaller set (default 1000, as torch-fidelity). */
    subset_size: positiveInt.optional(),
    /** Subset pairs averaged (default 100). */
    subsets: positiveInt.optional(),
  },
  'rank-k': {
    kind: z.literal('rank-k'),
    /** One value per k: the first under the metric's name, the others as `<name>@<k>`. */
    k: z.array(positiveInt).min(1).optional(),
  },
} as const;
export const METRIC_KINDS = Object.keys(
  METRIC_KIND_OPTIONS,
) as (keyof typeof METRIC_KIND_OPTIONS)[];

/** A metric's kind and options with its extractor name (an evaluation job's metric, less its name). */
export const metricRecipeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...METRIC_KIND_OPTIONS.fid, extractor: extractorName }),
  z.strictObject({ ...METRIC_KIND_OPTIONS.kid, extractor: extractorName }),
  z.strictObject({ ...METRIC_KIND_OPTIONS['rank-k'], extractor: extractorName }),
]);
export type MetricRecipe = z.infer<typeof metricRecipeSchema>;

// ---- the recipe every stored value carries -------------------------------------------------

/** How images reach the network's input size; null where the network takes any size. */
export const resizeRecipeSchema = z.strictObject({
  /**
   * pytorch-bilinear: F.interpolate(bilinear, align_corners=False) per image before batching
   * (folder features for networks with a fixed input); pad-square-bilinear: zero-pad to a square,
   * then tf bilinear without half-pixel centres (face-api); bilinear-half-pixel: tf bilinear with
   * half-pixel centres.
   */
  mode: z.enum(['pytorch-bilinear', 'pad-square-bilinear', 'bilinear-half-pixel']),
  size: positiveInt,
});
export type ResizeRecipe = z.infer<typeof resizeRecipeSchema>;

const jsonRecord = z.record(z.string(), z.json());

const recipeCommon = {
  extractor: featureSourceSchema,
  /** sha256 of the network's weights (files in name order); null for a trial's own network. */
  weights_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  resize: resizeRecipeSchema.nullable(),
  /** The evaluation protocol version (what `extra.protocol` says, when the writer sets one). */
  protocol: positiveInt,
  /** Which images were measured: split and image cap, or an identity trial's probe and gallery. */
  data: jsonRecord,
};

/** The complete recipe of one stored value (`extra.recipe`), one variant per kind. */
export const valueRecipeSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('fid'),
    /** Bootstrap resamples behind the interval; 0: none. */
    bootstrap: z.number().int().min(0),
    /** The bootstrap's seed; null without bootstrap. */
    seed: z.number().int().min(0).nullable(),
    ...recipeCommon,
  }),
  z.strictObject({
    kind: z.literal('kid'),
    subsets: positiveInt,
    /** The subset size used (the requested one capped by the smaller set). */
    subset_size: positiveInt,
    seed: z.number().int().min(0),
    ...recipeCommon,
  }),
  z.strictObject({ kind: z.literal('rank-k'), k: positiveInt, ...recipeCommon }),
  /** An identity trial's training accuracy and loss (on its training images). */
  z.strictObject({ kind: z.literal('train-accuracy'), ...recipeCommon }),
  z.strictObject({ kind: z.literal('train-loss'), ...recipeCommon }),
]);
export type ValueRecipe = z.infer<typeof valueRecipeSchema>;

/** JSON with object keys sorted at every level (so equal recipes give equal text). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** The recipe in a value's `extra` (`extra.recipe`), when it is a valid one; else null. */
export function recipeOf(extra: unknown): ValueRecipe | null {
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) return null;
  const r = valueRecipeSchema.safeParse((extra as Record<string, unknown>).recipe);
  return r.success ? r.data : null;
}

/**
 * The comparison key of a recipe: canonical JSON of all of it. Null for a missing or invalid
 * recipe (values recorded before recipes were: what made them is unknown).
 */
export function recipeKey(recipe: unknown): string | null {
  const r = valueRecipeSchema.safeParse(recipe);
  return r.success ? canonical(r.data) : null;
}

/** A short id of a recipe for tables and CSV columns (12 hex of sha256 of its key); null as above. */
export function recipeId(recipe: unknown): string | null {
  const key = recipeKey(recipe);
  return key === null ? null : createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * Two values are comparable exactly when both carry a recipe and the recipes match in every
 * field. A value without one matches nothing (not even another without one).
 */
export function recipesMatch(a: unknown, b: unknown): boolean {
  const ka = recipeKey(a);
  return ka !== null && ka === recipeKey(b);
}

/** True when every recipe is valid and all match (an empty list is comparable). */
export function allRecipesMatch(recipes: Iterable<unknown>): boolean {
  let first: string | null | undefined;
  for (const r of recipes) {
    const k = recipeKey(r);
    if (k === null) return false;
    if (first === undefined) first = k;
    else if (k !== first) return false;
  }
  return true;
}
