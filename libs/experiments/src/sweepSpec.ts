import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { extractorName, METRIC_KIND_OPTIONS, METRIC_KINDS } from '@fidlab/features';
import { identityConfigSchema, parseTrialConfig, TrialConfigSchema } from '@fidlab/training';
import { describeTrial, expandTrials } from './expandTrials.js';
import { toIdentityConfig, toTrainConfig } from './trialConfig.js';

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
  // an extractor name, checked by the one parser of names (@fidlab/features parseExtractorName)
  extractorName,
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

export const metricName = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'use lower-case letters, digits and _');

/**
 * One metric of a sweep: its name, its extractor (a name or a `best` reference) and its kind with
 * that kind's options (the metric recipe's union, @fidlab/features METRIC_KIND_OPTIONS).
 */
export const metricSpec = z.discriminatedUnion('kind', [
  z.strictObject({ name: metricName, extractor: extractorRef, ...METRIC_KIND_OPTIONS.fid }),
  z.strictObject({ name: metricName, extractor: extractorRef, ...METRIC_KIND_OPTIONS.kid }),
  z.strictObject({
    name: metricName,
    extractor: extractorRef,
    ...METRIC_KIND_OPTIONS['rank-k'],
  }),
]);
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
    let issues = 0;
    const add = (issue: { code: 'custom'; path: PropertyKey[]; message: string }) => {
      issues++;
      ctx.addIssue(issue);
    };
    const known = new Set<string>(TRIAL_PARAMETERS);
    const check = (where: 'parameters' | 'fixed', key: string) => {
      if (!known.has(key))
        add({
          code: 'custom',
          path: [where, key],
          message: `unknown trial parameter '${key}' (known: ${TRIAL_PARAMETERS.join(', ')})`,
        });
    };
    for (const [key, spec] of Object.entries(s.parameters)) {
      check('parameters', key);
      if (key in s.fixed)
        add({
          code: 'custom',
          path: ['fixed', key],
          message: `'${key}' is both swept (parameters) and fixed`,
        });
      const schema = trialParameterSchemas[key as TrialParameterName];
      if (!schema) continue;
      if ('values' in spec) {
        spec.values.forEach((v, i) => {
          const r = schema.safeParse(v, { reportInput: true });
          if (!r.success)
            add({
              code: 'custom',
              path: ['parameters', key, 'values', i],
              message: describeIssue(r.error.issues[0]).message,
            });
        });
      } else {
        if (s.method !== 'random')
          add({
            code: 'custom',
            path: ['parameters', key],
            message: 'a min/max range needs method: random (grid sweeps list values)',
          });
        if (!(spec.min <= spec.max))
          add({ code: 'custom', path: ['parameters', key, 'max'], message: 'max < min' });
        if (spec.scale === 'log' && spec.min <= 0)
          add({
            code: 'custom',
            path: ['parameters', key, 'min'],
            message: 'a log scale needs min > 0',
          });
      }
    }
    for (const [key, v] of Object.entries(s.fixed)) {
      check('fixed', key);
      const schema = trialParameterSchemas[key as TrialParameterName];
      const r = schema?.safeParse(v, { reportInput: true });
      if (r && !r.success)
        add({
          code: 'custom',
          path: ['fixed', key],
          message: describeIssue(r.error.issues[0]).message,
        });
    }
    if (s.method === 'random' && s.count === undefined)
      add({ code: 'custom', path: ['count'], message: 'method: random needs a count' });
    if (s.trial === 'pix2pix' && !s.evaluate)
      add({
        code: 'custom',
        path: ['evaluate'],
        message: 'a pix2pix sweep needs an evaluate section (metrics after every epoch)',
      });
    if (s.trial === 'identity') {
      if (!s.identity)
        add({
          code: 'custom',
          path: ['identity'],
          message: 'an identity sweep needs identity: { probe: { split | dir } }',
        });
      if (s.evaluate)
        add({
          code: 'custom',
          path: ['evaluate'],
          message: `identity trials measure themselves (${identityMetricNames(s.identity).join(', ')}); remove evaluate`,
        });
      for (const where of ['parameters', 'fixed'] as const)
        for (const key of Object.keys(s[where]))
          if (!(IDENTITY_PARAMETERS as readonly string[]).includes(key))
            add({
              code: 'custom',
              path: [where, key],
              message: `'${key}' is not an identity trial parameter (${IDENTITY_PARAMETERS.join(', ')})`,
            });
    }
    const names = metricNames(s);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i)
        add({
          code: 'custom',
          path: ['evaluate', 'metrics', i, 'name'],
          message: `duplicate metric name '${n}'`,
        });
    });
    if (!names.includes(s.select.metric))
      add({
        code: 'custom',
        path: ['select', 'metric'],
        message: `'${s.select.metric}' is not one of the sweep's metrics (${names.join(', ')})`,
      });
    // Every trial as its engine would receive it: rules across fields (epochs + epochs_decay >= 1,
    // a size the model can take, ...) fail here, naming the field, not when the trial runs.
    // (only for a sweep with no other problem: zod keeps refining after non-fatal issues)
    const earlier = (ctx as unknown as { issues?: unknown[] }).issues?.length ?? 0;
    if (issues === 0 && earlier === 0)
      for (const issue of trialConfigIssues(s as SweepSpec)) add(issue);
  });
export type SweepSpec = z.infer<typeof sweepSchema>;

/**
 * The first rule each trial of the sweep breaks in its training engine's config (pix2pix's
 * parseTrialConfig, the identity engine's schema), once per distinct problem, at the sweep field
 * that sets the parameter named in it (`fixed.epochs`, `parameters.model.values[1]`).
 */
function trialConfigIssues(
  s: SweepSpec,
): { code: 'custom'; path: PropertyKey[]; message: string }[] {
  const out: { code: 'custom'; path: PropertyKey[]; message: string }[] = [];
  const seen = new Set<string>();
  for (const t of expandTrials(s)) {
    let problem: string | null = null;
    let fields: string[] = [];
    if (s.trial === 'identity') {
      const r = identityConfigSchema.safeParse(toIdentityConfig(s, t, 'run'), {
        reportInput: true,
      });
      if (!r.success) {
        const issue = r.error.issues[0];
        const key = String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        problem = `${key}: ${describeIssue(issue).message}`;
        fields = [key];
      }
    } else {
      try {
        parseTrialConfig(toTrainConfig(s, t, 'run'));
      } catch (e) {
        problem = (e as Error).message.replace(/^bad trial config: /, '');
        fields = TRIAL_PARAMETERS.filter((f) => new RegExp(`\\b${f}\\b`).test(problem!));
        fields.sort(
          (a, b) =>
            problem!.search(new RegExp(`\\b${a}\\b`)) - problem!.search(new RegExp(`\\b${b}\\b`)),
        );
      }
    }
    if (problem === null || seen.has(problem)) continue;
    seen.add(problem);
    const trial = describeTrial(t);
    out.push({
      code: 'custom',
      path: fieldPath(s, t.parameters, fields, problem),
      message: `${problem}${trial ? ` (trial ${trial})` : ''}`,
    });
  }
  return out;
}

/** Where the sweep sets the first of `fields` that it sets (else data.size for size). */
function fieldPath(
  s: SweepSpec,
  parameters: TrialParameters,
  fields: string[],
  problem: string,
): PropertyKey[] {
  for (const f of fields) {
    if (f in s.fixed) return ['fixed', f];
    const spec = s.parameters[f];
    if (spec && 'values' in spec) {
      const i = spec.values.indexOf(parameters[f as TrialParameterName] as string | number);
      return i >= 0 ? ['parameters', f, 'values', i] : ['parameters', f];
    }
    if (spec) return ['parameters', f];
  }
  return /\bsize\b/.test(problem) ? ['data', 'size'] : [];
}

/** `'x'`, `3`, `[1,2]`: a value as an error message shows it. */
function shown(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  const j = JSON.stringify(v) ?? String(v);
  return j.length > 60 ? `${j.slice(0, 57)}...` : j;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/**
 * A zod issue (parsed with `reportInput: true`) as a message naming the offending value:
 * `'nosuchmodel' is not one of unet | unet-noskip | vae`, `expected a number, got 'fast'`,
 * `must be >= 1, got 0`. Union failures report the alternative the value came closest to
 * (`path` is then where inside the value the problem is).
 */
export function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  const input = (issue as { input?: unknown }).input;
  const at = (message: string) => ({ path: [...issue.path], message });
  switch (issue.code) {
    case 'invalid_value':
      return at(`${shown(input)} is not one of ${issue.values.map(String).join(' | ')}`);
    case 'invalid_union': {
      const d = issue as { discriminator?: string; options?: unknown[] };
      if (d.discriminator && d.options && input !== null && typeof input === 'object')
        return at(
          `${shown((input as Record<string, unknown>)[d.discriminator])} is not one of ${d.options.map(String).join(' | ')}`,
        );
      // The alternative the value has the type of (its first problem is inside) is the one it meant.
      const branch =
        issue.errors.find(
          (b) => b.length > 0 && !(b[0].code === 'invalid_type' && b[0].path.length === 0),
        ) ?? issue.errors[0];
      if (!branch || branch.length === 0) return at(`${shown(input)} is not valid here`);
      const inner = describeIssue(branch[0]);
      return { path: [...issue.path, ...inner.path], message: inner.message };
    }
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return at(
        input === undefined
          ? `required (${expected})`
          : `expected ${expected}, got ${shown(input)}`,
      );
    }
    case 'too_small':
    case 'too_big': {
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') {
        const small = issue.code === 'too_small';
        const bound = small
          ? (issue as { minimum: unknown }).minimum
          : (issue as { maximum: unknown }).maximum;
        const op = small ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
        return at(`must be ${op} ${String(bound)}, got ${shown(input)}`);
      }
      return at(`${issue.message}, got ${shown(input)}`);
    }
    default: {
      if (input === undefined || issue.message.includes(shown(input))) return at(issue.message);
      if (input !== null && typeof input === 'object') return at(issue.message);
      return at(`${issue.message}, got ${shown(input)}`);
    }
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
  const r = sweepSchema.safeParse(raw, { reportInput: true });
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 5).map((issue) => {
    const described = describeIssue(issue);
    const path = [...described.path];
    // Unknown keys are reported on their parent; point at the key itself.
    if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}${metricOptionHint(issue.path, issue.keys[0])}`
        : described.message;
    return `${file}${lineOf(doc, lineCounter, path)}: ${formatPath(path)}: ${message}`;
  });
  const more = r.error.issues.length > 5 ? ` (and ${r.error.issues.length - 5} more)` : '';
  throw new FidlabError(ErrorCode.INVALID_CONFIG, lines.join('; ') + more);
}

/** ` (an option of fid metrics)` when an unknown key of a metric is another kind's option. */
function metricOptionHint(path: readonly PropertyKey[], key: string): string {
  if (path[0] !== 'evaluate' || path[1] !== 'metrics' || path.length !== 3) return '';
  const kinds = METRIC_KINDS.filter((k) => key !== 'kind' && key in METRIC_KIND_OPTIONS[k]);
  return kinds.length > 0 ? ` (an option of ${kinds.join(' | ')} metrics)` : '';
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

export { EXTRACTOR_FORMS, extractorNameProblem } from '@fidlab/features';
