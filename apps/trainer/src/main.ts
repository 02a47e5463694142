/**
 * The training worker: `fidlab-trainer TRIAL.json [--backend B]` (or `-` for stdin). Picks the
 * tfjs backend, runs one trial with @fidlab/training and prints one JSON line per epoch on stdout
 * ({"type":"epoch",...}), then {"type":"done",...} or {"type":"error","code","message"}. Logs go
 * to stderr. SIGINT/SIGTERM stop after the current step (exit 130); the run resumes with
 * "resume": true. Everything else lives in the libs: this file only wires them together.
 */
import { readFileSync } from 'node:fs';
import { isFidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';
import { parseTrialConfig, train } from '@fidlab/training';

export interface TrainerIo {
  out(line: string): void;
  err(line: string): void;
  /** Registers a stop request handler (signals); returns an unregister function. */
  onStop?(handler: () => void): () => void;
}

const processIo: TrainerIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  onStop(handler) {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

const USAGE = 'usage: fidlab-trainer TRIAL.json|- [--backend auto|gpu|node|wasm|cpu]';

export async function runTrainer(argv: string[], io: TrainerIo = processIo): Promise<number> {
  const args = [...argv];
  let backend: string | undefined;
  const b = args.indexOf('--backend');
  if (b >= 0) [, backend] = args.splice(b, 2);
  if (args.length !== 1 || args[0] === '--help' || (b >= 0 && !backend)) {
    io.err(USAGE);
    return args[0] === '--help' ? 0 : 2;
  }
  const ac = new AbortController();
  const off = io.onStop?.(() => ac.abort());
  try {
    const text = readFileSync(args[0] === '-' ? 0 : args[0], 'utf8');
    const config = parseTrialConfig(JSON.parse(text));
    const name = await selectBackend({ backend, log: io.err });
    const r = await train(config, {
      signal: ac.signal,
      log: io.err,
      onEpoch: (e) => {
        const { config: _config, ...rest } = e;
        io.out(JSON.stringify({ type: 'epoch', backend: name, ...rest }));
      },
    });
    io.out(JSON.stringify({ type: 'done', ...r }));
    return r.status === 'aborted' ? 130 : 0;
  } catch (e) {
    const code = isFidlabError(e)
      ? e.code
      : e instanceof SyntaxError
        ? 'INVALID_INPUT'
        : 'INTERNAL';
    io.out(JSON.stringify({ type: 'error', code, message: (e as Error).message }));
    io.err(`fidlab-trainer: error: ${(e as Error).message}`);
    return isFidlabError(e) || e instanceof SyntaxError ? 1 : 70;
  } finally {
    off?.();
  }
}
