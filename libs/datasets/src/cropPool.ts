// Worker threads for the uncached `vips-bicubic` training path: each sample's decode, resize,
// crop, flip and float mapping run in a worker, so the main thread (which also runs training)
// only copies finished crops into batches.
import { Worker } from 'node:worker_threads';
import { ErrorCode, FidlabError } from '@fidlab/base';

export interface CropRequest {
  id: number;
  /** The sample's image files (photo and sketch, or one image), each cropped the same way. */
  paths: string[];
  target: number;
  crop: { x: number; y: number; flip: boolean };
  size: number;
  lo: number;
  hi: number;
  maxPixels?: number;
}

/** `data` holds one [size, size, 3] float32 crop per path, in order. */
export type CropReply =
  { id: number; data: Float32Array } | { id: number; message: string; code?: ErrorCode };

/** Starts the worker entry: compiled JS from dist, or the TypeScript source through tsx. */
function startWorker(): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const url = new URL('./cropWorker.ts', import.meta.url).href;
    const code =
      `import('tsx/esm/api').then((m) => { m.register(); ` +
      `return import(${JSON.stringify(url)}); })`;
    return new Worker(code, { eval: true, execArgv: ['--conditions=@fidlab/source'] });
  }
  return new Worker(new URL('./cropWorker.js', import.meta.url), { execArgv: [] });
}

/**
 * A fixed set of crop workers; requests go round-robin. Idle workers are unref'd, so an open
 * pool does not keep the process alive, and a worker is ref'd while it owes a reply (an awaited
 * reply would otherwise not keep Node running).
 */
export class CropPool {
  private nextId = 0;
  private turn = 0;
  /** A worker died or the pool was closed: `sharedCropPool` starts a new one. */
  broken = false;
  private readonly workers: Worker[];
  private readonly owed: number[];
  private readonly pending = new Map<
    number,
    { resolve(data: Float32Array): void; reject(e: Error): void; worker: number }
  >();

  constructor(n: number) {
    this.owed = new Array<number>(n).fill(0);
    this.workers = Array.from({ length: n }, () => {
      const w = startWorker();
      w.unref();
      w.on('message', (r: CropReply) => this.onReply(r));
      w.on('error', (e) => {
        this.broken = true;
        this.failAll(e);
      });
      w.on('exit', () => {
        this.broken = true;
        this.failAll(new Error('crop worker exited'));
      });
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  private onReply(r: CropReply): void {
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if (!p) return;
    if (--this.owed[p.worker] === 0) this.workers[p.worker].unref();
    if ('data' in r) p.resolve(r.data);
    else p.reject(r.code ? new FidlabError(r.code, r.message) : new Error(r.message));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  run(req: Omit<CropRequest, 'id'>): Promise<Float32Array> {
    const id = this.nextId++;
    const worker = this.turn++ % this.workers.length;
    const w = this.workers[worker];
    if (this.owed[worker]++ === 0) w.ref();
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      w.postMessage({ ...req, id } satisfies CropRequest);
    });
  }

  async close(): Promise<void> {
    this.broken = true;
    this.failAll(new Error('crop pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let shared: CropPool | null = null;

/**
 * The process-wide pool of `n` crop workers that `loadBatches` uses, started on first use and
 * kept for later epochs (starting a worker costs about 0.1 s of CPU). Asking for another size
 * replaces it.
 */
export function sharedCropPool(n: number): CropPool {
  if (!shared || shared.broken || shared.size !== n) {
    void shared?.close();
    shared = new CropPool(n);
  }
  return shared;
}
