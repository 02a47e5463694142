// The `identity` trial: fine-tune a face network as an identity classifier over the training
// identities, then choose the checkpoint by rank-k identification (seed section 3).
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';

// The `dir` form comes first and both are strict: zod unions take the first match, and a
// non-strict `{ split }` object would silently drop a `dir`.
const imageSetSchema = z.union([
  z
    .object({
      /**
       * A folder of images (e.g. generated sketches) matched to a split's items by file name
       * without extension (the photo's or the sketch's); their identities are those items'.
       */
      dir: z.string().min(1),
      /** Split whose items give the identities; default: the gallery's split. */
      split: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      /** Dataset split whose images are used. */
      split: z.string().min(1),
      /** Which side of each pair. */
      images: z.enum(['sketches', 'photos']).default('sketches'),
    })
    .strict(),
]);
export type IdentityImageSet = z.infer<typeof imageSetSchema>;

export const identityConfigSchema = z.object({
  trial: z.literal('identity').default('identity'),
  /** Dataset root (any layout datasets' discoverDataset accepts; identities from its manifest). */
  data: z.string().min(1),
  /** Identity regex over file names when the dataset has no identity column (see datasets). */
  identityPattern: z.string().optional(),
  /** Where `checkpoints/epoch-NNNN/` are written. */
  out: z.string().min(1),
  body: z
    .object({
      kind: z.enum(['facerec', 'vggface']).default('facerec'),
      /**
       * Square input side. facerec: native 150, >= 104 (its four stride-2 valid convs need it),
       * smaller runs faster; vggface: 224 only (fc6 is fixed to a 7x7 pool5).
       */
      inputSize: z.number().int().positive().optional(),
      /** Pretrained weights: facerec, a face-api manifest (default: node_modules); vggface,
       * vgg_face_dag.pth (default: the weights cache, see `fidlab weights fetch vggface`). */
      weights: z.string().optional(),
    })
    .prefault({}),
  /** Training images: the classifier's classes are their identities. */
  train: z
    .object({
      split: z.string().min(1).default('train'),
      images: z.enum(['sketches', 'photos']).default('sketches'),
    })
    .prefault({}),
  /** Rank-k evaluation after every epoch: probe images against gallery images. */
  eval: z.object({
    /**
     * Images to identify: generated sketches (`{ dir }`) or a split's real sketches/photos. No
     * default: the meaningful probe depends on the dataset (CUFS: generated test sketches).
     */
    probe: imageSetSchema,
    /** Ground-truth sketches with known identities. */
    gallery: imageSetSchema.default({ split: 'test', images: 'sketches' }),
    /** Body layer whose features are compared; default: the classifier's input layer. */
    layer: z.string().optional(),
    metric: z.enum(['cosine', 'euclidean']).default('cosine'),
    ks: z.array(z.number().int().positive()).default([1, 5, 10]),
  }),
  epochs: z.number().int().positive(),
  batchSize: z.number().int().positive().default(16),
  /** The seed fine-tuned VGG-Face at 1e-7 (SGD); a fresh classifier usually wants more. */
  lr: z.number().positive(),
  /** Learning rate of the new classifier; default: lr. */
  classifierLr: z.number().positive().optional(),
  /** Caffe's fine-tuning default: SGD with momentum 0.9. */
  optimizer: z.enum(['sgd', 'momentum', 'adam']).default('momentum'),
  momentum: z.number().min(0).max(1).default(0.9),
  /**
   * Freeze the body's parameter groups up to and including this one ('body' freezes all of it);
   * absent: everything is trained, as in the seed.
   */
  freezeThrough: z.string().optional(),
  /** The same as a count: freeze the body's first N parameter groups (0: none). */
  frozen: z.number().int().min(0).optional(),
  /** Write a checkpoint every N epochs (and after the last); VGG-Face ones are 0.5 GB each. */
  checkpointEvery: z.number().int().positive().default(1),
  seed: z.number().int().nonnegative().default(0),
  /**
   * Continue from the newest complete checkpoint in `out` (weights, optimizer state, epoch), as
   * generator trials do; off: start at epoch 1. Sweeps always set it.
   */
  resume: z.boolean().default(false),
});
export type IdentityConfigInput = z.input<typeof identityConfigSchema>;
export type IdentityConfig = z.output<typeof identityConfigSchema>;

/** Parses an identity trial config; errors name the field. */
export function parseIdentityConfig(input: unknown, source = 'identity config'): IdentityConfig {
  const r = identityConfigSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
  }
  if (r.data.freezeThrough !== undefined && r.data.frozen !== undefined) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${source}: give freezeThrough or frozen, not both`,
    );
  }
  return r.data;
}
