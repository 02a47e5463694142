// Sweeps that arrive from elsewhere than a sweep file (the API's sweeps.create), and sweeps whose
// name is already stored: validated with exactly the sweep file's schema, and a changed spec under
// an existing name is found (and named) before anything replaces it.
import { ErrorCode, FidlabError } from '@fidlab/base';
import { formatPath, sweepSchema, trialParameterSchemas, type SweepSpec } from './sweepSpec.js';

/** A run key: what the engine makes (16 hex digits) or a name; never a path (no / or ..). */
export const RUN_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

function issuesLine(
  what: string,
  issues: readonly {
    path: readonly PropertyKey[];
    message: string;
    code?: string;
    keys?: string[];
  }[],
): string {
  const lines = issues.slice(0, 5).map((issue) => {
    const path = [...issue.path];
    if (issue.code === 'unrecognized_keys' && issue.keys) path.push(issue.keys[0]);
    const message =
      issue.code === 'unrecognized_keys' && issue.keys
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`
        : issue.message;
    return `${what}: ${formatPath(path)}: ${message}`;
  });
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
  return lines.join('; ') + more;
}

/** A sweep spec as an object (a parsed sweep file's content), validated as the file is. */
export function parseSweepSpec(raw: unknown, what = 'spec'): SweepSpec {
  const r = sweepSchema.safeParse(raw);
  if (r.success) return r.data;
  throw new FidlabError(ErrorCode.INVALID_CONFIG, issuesLine(what, r.error.issues));
}

/** One run's key and trial parameters, as sweep files allow them. */
export function checkRunInput(
  run: { key?: string; parameters: Record<string, unknown> },
  what: string,
): void {
  if (run.key !== undefined && (!RUN_KEY_PATTERN.test(run.key) || run.key.includes('..'))) {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `${what}.key: ${JSON.stringify(run.key)} is not a run key (letters, digits, _ . -; no slashes or '..'; at most 200)`,
    );
  }
  const schemas = trialParameterSchemas as Record<
    string,
    { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } }
  >;
  for (const [key, value] of Object.entries(run.parameters)) {
    const schema = schemas[key];
    if (!schema) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${what}.parameters.${key}: unknown trial parameter (known: ${Object.keys(schemas).join(', ')})`,
      );
    }
    const r = schema.safeParse(value);
    if (!r.success) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${what}.parameters.${key}: ${JSON.stringify(value)}: ${r.error?.issues[0]?.message ?? 'invalid'}`,
      );
    }
  }
}

/** Stable JSON (sorted keys, undefined dropped): equal specs print equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function differences(a: unknown, b: unknown, path: PropertyKey[], out: string[]): void {
  if (out.length >= 5) return;
  if (canonical(a) === canonical(b)) return;
  const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort())
      differences(ao[k], bo[k], [...path, k], out);
    return;
  }
  out.push(formatPath(path));
}

/**
 * Where a stored sweep spec and a new one differ (at most 5 paths; empty when the same). The
 * stored spec is read again with today's schema first, so defaults added since do not count as a
 * change.
 */
export function sweepSpecChanges(stored: unknown, spec: SweepSpec): string[] {
  const again = sweepSchema.safeParse(stored);
  const out: string[] = [];
  differences(again.success ? again.data : stored, spec, [], out);
  return out;
}

/** The error for a changed spec under a stored name. */
export function changedSpecError(name: string, changes: string[], flag: string): FidlabError {
  return new FidlabError(
    ErrorCode.INVALID_INPUT,
    `sweep ${name} is already stored with a different spec (differs at ${changes.join(', ')}); ` +
      `use a new name, or ${flag} to replace the stored spec (its runs and values are kept)`,
  );
}
