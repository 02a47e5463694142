import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDecimal } from './format.js';

/** One `fidlab <name>` subcommand. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** One line for `fidlab --help`. */
  summary: string;
  /**
   * Full usage text for `fidlab <name> --help`; a function when the text needs a lib that the
   * command otherwise loads only on demand (e.g. the extractor names).
   */
  usage: string | (() => Promise<string>);
  run(argv: string[], io: Io): Promise<number>;
}

/** The usage text of a command, loading what it needs. */
export async function usageOf(cmd: Command): Promise<string> {
  return typeof cmd.usage === 'string' ? cmd.usage : cmd.usage();
}

/** Where a command writes: injectable so tests capture output without spawning processes. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Thrown for bad command-line usage; main prints it with the command's usage hint, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs with errors turned into UsageError (one line, names the bad option). */
export function parse<T extends ParseArgsConfig>(
  argv: string[],
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ ...config, args: joinNegativeValues(argv, config), strict: true } as T);
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/** A negative number (`-3`, `-0.5`, `-1e-4`, `-.5`), which parseArgs would take for an option. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `--seed -3` -> `--seed=-3` for options that take a value: parseArgs refuses a value that starts
 * with a dash as ambiguous, but a negative number cannot be an option.
 */
function joinNegativeValues(argv: string[], config: ParseArgsConfig): string[] {
  const options = config.options ?? {};
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (
      name !== undefined &&
      !name.includes('=') &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      NEGATIVE_NUMBER.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Parses a numeric option, naming it when it is not a number in range. */
export function numberOption(
  value: string | undefined,
  name: string,
  fallback: number,
  { integer = false, min = -Infinity }: { integer?: boolean; min?: number } = {},
): number {
  if (value === undefined) return fallback;
  const x = parseDecimal(value);
  if (!Number.isFinite(x) || (integer && !Number.isInteger(x)) || x < min) {
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got '${value}'`,
    );
  }
  return x;
}
