// Feature extraction on several cores: tfjs's wasm backend runs on one thread in Node (its
// threaded build does not load there), so a pool of worker threads, each with its own copy of
// the network, takes whole batches. The main thread decodes and resizes images meanwhile.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErrorCode, FidlabError } from '@fidlab/base';

export type WorkerRequest =
  | { type: 'init'; name: string; weights?: string }
  | { type: 'batch'; id: number; pixels: Float32Array; shape: [number, number, number, number] };

export type WorkerReply =
  | { type: 'ready'; name: string; dims: number; inputSize?: number }
  | { type: 'result'; id: number; rows: Float32Array }
  | { type: 'error'; id?: number; message: string; code?: ErrorCode };

/** Workers for a folder by default: one per core, at most 4 (each holds the whole network). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Starts the worker entry: compiled JS from dist, or the TypeScript source through tsx. The pool
 * already puts one worker on each core, so each worker's CPU path (@fidlab/tfjs-cpu) computes on
 * its own thread only.
 */
function startWorker(): Worker {
  const env = { ...process.env, FIDLAB_THREADS: '1' };
  if (import.meta.url.endsWith('.ts')) {
    const url = new URL('./featureWorker.ts', import.meta.url).href;
    const code =
      `import('tsx/esm/api').then((m) => { m.register(); ` +
      `return import(${JSON.stringify(url)}); })`;
    return new Worker(code, { eval: true, env, execArgv: ['--conditions=@fidlab/source'] });
  }
  return new Worker(new URL('./featureWorker.js', import.meta.url), { env, execArgv: [] });
}

function replyError(r: { message: string; code?: ErrorCode }): Error {
  return r.code ? new FidlabError(r.code, r.message) : new Error(r.message);
}

/**
 * A named extractor replicated in `workers` threads. `run` takes one batch (NHWC float32 RGB
 * in [0,1]) and resolves to its [n, dims] rows; up to `workers` batches run at once.
 */
export class ExtractorPool {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve(rows: Float32Array): void; reject(e: Error): void }
  >();
  private readonly idle: Worker[] = [];
  private readonly waiting: Array<(w: Worker) => void> = [];

  private constructor(
    private readonly all: Worker[],
    readonly name: string,
    readonly dims: number,
    readonly inputSize: number | undefined,
  ) {
    this.idle.push(...all);
  }

  static async create(
    name: string,
    opts: { weights?: string; workers?: number } = {},
  ): Promise<ExtractorPool> {
    const n = opts.workers ?? defaultWorkers();
    const workers: Worker[] = [];
    const init = (w: Worker) =>
      new Promise<Extract<WorkerReply, { type: 'ready' }>>((resolve, reject) => {
        w.once('message', (r: WorkerReply) =>
          r.type === 'ready' ? resolve(r) : reject(replyError(r as { message: string })),
        );
        w.once('error', reject);
        w.postMessage({ type: 'init', name, weights: opts.weights } satisfies WorkerRequest);
      });
    try {
      // The first worker alone converts (and caches) the weights; the others read the cache.
      workers.push(startWorker());
      const ready = [await init(workers[0])];
      for (let i = 1; i < n; i++) workers.push(startWorker());
      ready.push(...(await Promise.all(workers.slice(1).map(init))));
      const pool = new ExtractorPool(workers, ready[0].name, ready[0].dims, ready[0].inputSize);
      for (const w of workers) {
        w.on('message', (r: WorkerReply) => pool.onReply(w, r));
        w.on('error', (e) => pool.failAll(e));
      }
      return pool;
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
  }

  get workers(): number {
    return this.all.length;
  }

  private onReply(w: Worker, r: WorkerReply): void {
    if (r.type === 'ready' || r.id === undefined) return;
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    const next = this.waiting.shift();
    if (next) next(w);
    else this.idle.push(w);
    if (r.type === 'result') p?.resolve(r.rows);
    else p?.reject(replyError(r));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async run(pixels: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    const w = this.idle.pop() ?? (await new Promise<Worker>((r) => this.waiting.push(r)));
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ type: 'batch', id, pixels, shape } satisfies WorkerRequest, [
        pixels.buffer as ArrayBuffer,
      ]);
    });
  }

  async dispose(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}

export function isExtractorPool(x: unknown): x is ExtractorPool {
  return x instanceof ExtractorPool;
}
