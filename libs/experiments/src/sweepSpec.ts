import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { identityConfigSchema, TrialConfigSchema } from '@fidlab/training';

/**
 * The sweep file: what to train (a grid or random sample over trial parameters) and what to
 * measure after every epoch. Validated with zod; every error names its spot in the file
 * (`parameters.lr.values[1]`, with the line when the YAML source is known).
 */

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, _ . - (no spaces or slashes)');

const positiveInt = z.number().int().min(1);

/**
 * The trial parameters a sweep may set, with the types each value must have: the training
 * engine's own schema (so the two cannot drift), less what the sweep sets itself (data, size, run
 * directory, resume), plus the identity fine-tuning parameters.
 */
const {
  data: _data,
  size: _size,
  run_dir: _runDir,
  resume: _resume,
  ...trainFields
} = TrialConfigSchema.shape;
export const trialParameterSchemas = {
  ...trainFields,
  // identity fine-tuning trials
  body: z.enum(['vggface', 'facerec']),
  frozen: z.number().int().min(0),
} as const;
export type TrialParameterName = keyof typeof trialParameterSchemas;
export const TRIAL_PARAMETERS = Object.keys(trialParameterSchemas) as TrialParameterName[];
export type TrialParameters = Partial<Record<TrialParameterName, string | number>>;

const parameterValues = z.strictObject({
  values: z.array(z.union([z.string(), z.number()])).min(1, 'needs at least one value'),
});
const parameterRange = z.strictObject({
  min: z.number(),
  max: z.number(),
  scale: z.enum(['linear', 'log']).default('linear'),
  integer: z.boolean().default(false),
});
export type ParameterSpec = z.infer<typeof parameterValues> | z.infer<typeof parameterRange>;

export const dataSpec = z.strictObject({
  root: z.string().min(1),
  layout: z.enum(['auto', 'paired', 'aligned', 'single']).default('auto'),
  size: z
    .number()
    .int()
    .min(32)
    .refine((s) => (s & (s - 1)) === 0, 'must be a power of two (32, 64, 128, 256)'),
  pair_pattern: z.string().optional(),
  identity_pattern: z.string().optional(),
  /** Generate the synthetic face-sketch set at `root` when it does not exist yet. */
  synth: z
    .strictObject({
      identities: positiveInt.default(12),
      per_identity: positiveInt.default(4),
      seed: z.number().int().min(0).default(1),
      size: positiveInt.optional(),
    })
    .optional(),
});
export type DataSpec = z.infer<typeof dataSpec>;

const extractorRef = z.union([
  z.string().min(1),
  z.strictObject({
    best: z.strictObject({
      sweep: name,
      metric: name,
      goal: z.enum(['min', 'max']).optional(),
      /** Only the runs whose parameters have these values (e.g. `{ model: vae }`). */
      where: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    }),
    tap: z.string().min(1),
    pool: z.boolean().default(false),
  }),
]);
export type ExtractorRef = z.infer<typeof extractorRef>;

export const metricSpec = z
  .strictObject({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'use lower-case letters, digits and _'),
    kind: z.enum(['fid', 'kid', 'rank-k']),
    extractor: extractorRef,
    bootstrap: z.number().int().min(0).optional(),
    k: z.array(positiveInt).min(1).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.bootstrap !== undefined && m.kind !== 'fid')
      ctx.addIssue({ code: 'custom', path: ['bootstrap'], message: 'only fid metrics bootstrap' });
    if (m.k !== undefined && m.kind !== 'rank-k')
      ctx.addIssue({ code: 'custom', path: ['k'], message: 'only rank-k metrics take k' });
  });
export type MetricSpec = z.infer<typeof metricSpec>;

// The probe/gallery forms and the optimizers are the identity engine's own (one definition).
const identityEval = identityConfigSchema.shape.eval.shape;
const identitySpec = z.strictObject({
  /** Images to identify after every epoch (e.g. generated test sketches: `{ dir }`). */
  probe: identityEval.probe,
  gallery: identityEval.gallery,
  ks: z.array(positiveInt).min(1).default([1, 5, 10]),
  /** The body's square input (facerec: >= 104, native 150; vggface: 224). */
  input_size: positiveInt.optional(),
  optimizer: identityConfigSchema.shape.optimizer,
  classifier_lr: z.number().positive().optional(),
});
export type IdentitySpec = z.infer<typeof identitySpec>;

/** The parameters an identity trial takes (the rest are pix2pix's). */
export const IDENTITY_PARAMETERS = [
  'body',
  'frozen',
  'lr',
  'epochs',
  'batch_size',
  'seed',
] as const;

/** What an identity trial records each epoch: rank_<k> per k, train_accuracy, loss. */
export function identityMetricNames(spec: IdentitySpec | undefined): string[] {
  return [...(spec?.ks ?? [1, 5, 10]).map((k) => `rank_${k}`), 'train_accuracy', 'loss'];
}

/** Every metric name a sweep records per epoch (what `select.metric` may name). */
export function metricNames(s: {
  trial: 'pix2pix' | 'identity';
  evaluate?: { metrics: { name: string }[] };
  identity?: IdentitySpec;
}): string[] {
  return s.trial === 'identity'
    ? identityMetricNames(s.identity)
    : (s.evaluate?.metrics.map((m) => m.name) ?? []);
}

export const sweepSchema = z
  .strictObject({
    name,
    trial: z.enum(['pix2pix', 'identity']).default('pix2pix'),
    data: dataSpec,
    method: z.enum(['grid', 'random']).default('grid'),
    count: positiveInt.optional(),
    seed: z.number().int().min(0).default(0),
    parameters: z.record(z.string(), z.union([parameterValues, parameterRange])).default({}),
    fixed: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
    evaluate: z
      .strictObject({
        every: positiveInt.default(1),
        split: z.string().default('test'),
        /** At most this many test images per evaluation (all when absent). */
        max_images: positiveInt.optional(),
        metrics: z.array(metricSpec).min(1, 'needs at least one metric'),
      })
      .optional(),
    /** Identity fine-tuning trials: what to identify after every epoch, and the body's input. */
    identity: identitySpec.optional(),
    select: z.strictObject({ metric: z.string(), goal: z.enum(['min', 'max']).default('min') }),
  })
  .superRefine((s, ctx) => {
    const known = new Set<string>(TRIAL_PARAMETERS);
    const check = (where: 'parameters' | 'fixed', key: string) => {
      if (!known.has(key))
        ctx.addIssue({
          code: 'custom',
          path: [where, key],
          message: `unknown trial parameter '${key}' (known: ${TRIAL_PARAMETERS.join(', ')})`,
        });
    };
    for (const [key, spec] of Object.entries(s.parameters)) {
      check('parameters', key);
      if (key in s.fixed)
        ctx.addIssue({
          code: 'custom',
          path: ['fixed', key],
          message: `'${key}' is both swept (parameters) and fixed`,
        });
      const schema = trialParameterSchemas[key as TrialParameterName];
      if (!schema) continue;
      if ('values' in spec) {
        spec.values.forEach((v, i) => {
          const r = schema.safeParse(v);
          if (!r.success)
            ctx.addIssue({
              code: 'custom',
              path: ['parameters', key, 'values', i],
              message: r.error.issues[0].message,
            });
        });
      } else {
        if (s.method !== 'random')
          ctx.addIssue({
            code: 'custom',
            path: ['parameters', key],
            message: 'a min/max range needs method: random (grid sweeps list values)',
          });
        if (!(spec.min <= spec.max))
          ctx.addIssue({ code: 'custom', path: ['parameters', key, 'max'], message: 'max < min' });
        if (spec.scale === 'log' && spec.min <= 0)
          ctx.addIssue({
            code: 'custom',
            path: ['parameters', key, 'min'],
            message: 'a log scale needs min > 0',
          });
      }
    }
    for (const [key, v] of Object.entries(s.fixed)) {
      check('fixed', key);
      const schema = trialParameterSchemas[key as TrialParameterName];
      const r = schema?.safeParse(v);
      if (r && !r.success)
        ctx.addIssue({ code: 'custom', path: ['fixed', key], message: r.error.issues[0].message });
    }
    if (s.method === 'random' && s.count === undefined)
      ctx.addIssue({ code: 'custom', path: ['count'], message: 'method: random needs a count' });
    if (s.trial === 'pix2pix' && !s.evaluate)
      ctx.addIssue({
        code: 'custom',
        path: ['evaluate'],
        message: 'a pix2pix sweep needs an evaluate section (metrics after every epoch)',
      });
    if (s.trial === 'identity') {
      if (!s.identity)
        ctx.addIssue({
          code: 'custom',
          path: ['identity'],
          message: 'an identity sweep needs identity: { probe: { split | dir } }',
        });
      if (s.evaluate)
        ctx.addIssue({
          code: 'custom',
          path: ['evaluate'],
          message: `identity trials measure themselves (${identityMetricNames(s.identity).join(', ')}); remove evaluate`,
        });
      for (const where of ['parameters', 'fixed'] as const)
        for (const key of Object.keys(s[where]))
          if (!(IDENTITY_PARAMETERS as readonly string[]).includes(key))
            ctx.addIssue({
              code: 'custom',
              path: [where, key],
              message: `'${key}' is not an identity trial parameter (${IDENTITY_PARAMETERS.join(', ')})`,
            });
    }
    const names = metricNames(s);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i)
        ctx.addIssue({
          code: 'custom',
          path: ['evaluate', 'metrics', i, 'name'],
          message: `duplicate metric name '${n}'`,
        });
    });
    if (!names.includes(s.select.metric))
      ctx.addIssue({
        code: 'custom',
        path: ['select', 'metric'],
        message: `'${s.select.metric}' is not one of the sweep's metrics (${names.join(', ')})`,
      });
    s.evaluate?.metrics.forEach((m, i) => {
      if (typeof m.extractor !== 'string') return;
      const problem = extractorNameProblem(m.extractor);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          path: ['evaluate', 'metrics', i, 'extractor'],
          message: problem,
        });
    });
  });
export type SweepSpec = z.infer<typeof sweepSchema>;

/** Extractor names a sweep may use (libs/features resolves them when evaluation starts). */
export const EXTRACTOR_FORMS = [
  'inception',
  'inception-pool3',
  'inception:64|192|768|2048',
  'vggface:conv5_3|pool5|pool5-avg|fc6|relu6|fc7|relu7',
  'facerec',
  'facerec:pool',
  'generator:<checkpoint-dir>:<tap>[:avg]',
  'identity:<checkpoint-dir>:<layer>',
] as const;

const VGG_LAYERS = ['conv5_3', 'pool5', 'pool5-avg', 'fc6', 'relu6', 'fc7', 'relu7'];

/** Why an extractor name is not one fidlab knows, or null when it is fine. Loads nothing. */
export function extractorNameProblem(ref: string): string | null {
  const [base, ...rest] = ref.split(':');
  const bad = `unknown extractor '${ref}' (known forms: ${EXTRACTOR_FORMS.join(', ')})`;
  switch (base) {
    case 'inception':
      return rest.length === 0 ||
        (rest.length === 1 && ['64', '192', '768', '2048'].includes(rest[0]))
        ? null
        : bad;
    case 'inception-pool3':
      return rest.length === 0 ? null : bad;
    case 'facerec':
      return rest.length === 0 || (rest.length === 1 && rest[0] === 'pool') ? null : bad;
    case 'vggface':
      return rest.length === 1 && VGG_LAYERS.includes(rest[0]) ? null : bad;
    case 'generator':
    case 'identity':
      return rest.length >= 2 && rest.every((p) => p.length > 0) ? null : bad;
    default:
      return bad;
  }
}

/** `parameters.lr.values[1]` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** Parses and validates a sweep from YAML text; `file` names it in errors. */
export function parseSweepText(text: string, file = 'sweep file'): SweepSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lineCounter.linePos(e.pos[0]);
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${file}:${pos.line}:${pos.col}: not valid YAML: ${e.message.split('\n')[0]}`,
    );
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new FidlabError(ErrorCode.INVALID_CONFIG, `${file}: expected a YAML mapping at the top`);
  const r = sweepSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 5).map((issue) => {
    const path = [...issue.path];
    // Unknown keys are reported on their parent; point at the key itself.
    if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`
        : issue.message;
    return `${file}${lineOf(doc, lineCounter, path)}: ${formatPath(path)}: ${message}`;
  });
  const more = r.error.issues.length > 5 ? ` (and ${r.error.issues.length - 5} more)` : '';
  throw new FidlabError(ErrorCode.INVALID_CONFIG, lines.join('; ') + more);
}

/** `:line` of the deepest node on `path` that exists in the YAML document, or ''. */
function lineOf(
  doc: ReturnType<typeof parseDocument>,
  lc: LineCounter,
  path: readonly PropertyKey[],
): string {
  for (let n = path.length; n >= 1; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as
      { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return `:${lc.linePos(node.range[0]).line}`;
  }
  return '';
}

export async function readSweepFile(path: string): Promise<SweepSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FidlabError(
      code === 'ENOENT' ? ErrorCode.FILE_NOT_FOUND : ErrorCode.INVALID_INPUT,
      `${path}: cannot read sweep file (${code ?? (e as Error).message})`,
    );
  }
  return parseSweepText(text, path);
}
