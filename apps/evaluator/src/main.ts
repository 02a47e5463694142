/**
 * The evaluation worker: `fidlab-evaluator JOB.json|- [--backend B] [--db URL]`. Picks the tfjs
 * backend, runs one evaluation job with @fidlab/experiments (generate the split with the
 * checkpoint, extract features, compute the metrics) and prints {"type":"metrics","checkpoint",
 * ...,"values":[...]} on stdout, or {"type":"error","code","message"}. A sweep's checkpoint
 * evaluation job ({"kind":"evaluation",...}, what a trial's checkpoint event becomes) runs through
 * the sweep engine's handler, its values recorded in the store (--db, else DATABASE_URL) under the
 * job's claim; same output line. Logs go to stderr. The logic lives in the libs; this file only
 * wires them together (the sweep engine calls the same code in-process).
 */
import { readFileSync } from 'node:fs';
import {
  evaluateJob,
  parseEvaluationJob,
  parseJob,
  runEvaluationJob,
  type MetricValue,
} from '@fidlab/experiments';
import { ErrorCode, FidlabError, isFidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';
import { openStore } from '@fidlab/store';

export interface EvaluatorIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: EvaluatorIo = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

const USAGE = 'usage: fidlab-evaluator JOB.json|- [--backend auto|gpu|node|wasm|cpu] [--db URL]';

export async function runEvaluator(argv: string[], io: EvaluatorIo = processIo): Promise<number> {
  const args = [...argv];
  let backend: string | undefined;
  let db: string | undefined;
  const b = args.indexOf('--backend');
  if (b >= 0) [, backend] = args.splice(b, 2);
  const d = args.indexOf('--db');
  if (d >= 0) [, db] = args.splice(d, 2);
  if (args.length !== 1 || args[0] === '--help' || (b >= 0 && !backend) || (d >= 0 && !db)) {
    io.err(USAGE);
    return args[0] === '--help' ? 0 : 2;
  }
  try {
    const file = args[0] === '-' ? 'stdin' : args[0];
    const input = JSON.parse(readFileSync(args[0] === '-' ? 0 : args[0], 'utf8')) as unknown;
    let checkpoint: string;
    let compute: () => Promise<MetricValue[]>;
    if (input !== null && typeof input === 'object' && 'kind' in input) {
      const job = parseJob(input, file);
      if (job.kind !== 'evaluation')
        throw new FidlabError(
          ErrorCode.INVALID_INPUT,
          `${file}: a ${job.kind} job goes to fidlab-trainer; fidlab-evaluator runs evaluation jobs`,
        );
      checkpoint = job.checkpoint.uri;
      compute = async () => {
        const store = await openStore({ url: db ?? process.env.DATABASE_URL });
        try {
          return await runEvaluationJob(job, {
            recorder: store,
            emit: async () => {},
            heartbeat: () => {},
            log: io.err,
            signal: new AbortController().signal,
          });
        } finally {
          await store.close();
        }
      };
    } else {
      const job = parseEvaluationJob(input, file);
      checkpoint = job.checkpoint;
      compute = () => evaluateJob(job, { onProgress: io.err });
    }
    const name = await selectBackend({ backend, log: io.err });
    const started = Date.now();
    const values = await compute();
    io.out(
      JSON.stringify({
        type: 'metrics',
        checkpoint,
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
