/**
 * The evaluation worker: `fidlab-evaluator JOB.json|- [--backend B]`. Picks the tfjs backend,
 * runs one evaluation job with @fidlab/experiments (generate the split with the checkpoint,
 * extract features, compute the metrics) and prints {"type":"metrics","checkpoint",...,"values":
 * [...]} on stdout, or {"type":"error","code","message"}. Logs go to stderr. The logic lives in
 * the libs; this file only wires them together (the sweep engine calls the same code in-process).
 */
import { readFileSync } from 'node:fs';
import { evaluateJob, parseEvaluationJob } from '@fidlab/experiments';
import { isFidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';

export interface EvaluatorIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: EvaluatorIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

const USAGE = 'usage: fidlab-evaluator JOB.json|- [--backend auto|gpu|node|wasm|cpu]';

export async function runEvaluator(argv: string[], io: EvaluatorIo = processIo): Promise<number> {
  const args = [...argv];
  let backend: string | undefined;
  const b = args.indexOf('--backend');
  if (b >= 0) [, backend] = args.splice(b, 2);
  if (args.length !== 1 || args[0] === '--help' || (b >= 0 && !backend)) {
    io.err(USAGE);
    return args[0] === '--help' ? 0 : 2;
  }
  try {
    const file = args[0] === '-' ? 'stdin' : args[0];
    const job = parseEvaluationJob(
      JSON.parse(readFileSync(args[0] === '-' ? 0 : args[0], 'utf8')),
      file,
    );
    const name = await selectBackend({ backend, log: io.err });
    const started = Date.now();
    const values = await evaluateJob(job, { onProgress: io.err });
    io.out(
      JSON.stringify({
        type: 'metrics',
        checkpoint: job.checkpoint,
        backend: name,
        seconds: (Date.now() - started) / 1000,
        values,
      }),
    );
    return 0;
  } catch (e) {
    const code = isFidlabError(e)
      ? e.code
      : e instanceof SyntaxError
        ? 'INVALID_INPUT'
        : 'INTERNAL';
    io.out(JSON.stringify({ type: 'error', code, message: (e as Error).message }));
    io.err(`fidlab-evaluator: error: ${(e as Error).message}`);
    return isFidlabError(e) || e instanceof SyntaxError ? 1 : 70;
  }
}
