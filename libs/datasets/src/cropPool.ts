// Worker threads for the uncached `vips-bicubic` training path: each sample's decode, resize,
// crop, flip and float mapping run in a worker, so the main thread (which also runs training)
// only copies finished crops into batches.
import { Worker } from 'node:worker_threads';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';

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

/** A fixed set of crop workers; requests go round-robin. Close it when done. */
export class CropPool {
  private nextId = 0;
  private turn = 0;
  private readonly workers: Worker[];
  private readonly pending = new Map<
    number,
    { resolve(data: Float32Array): void; reject(e: Error): void }
  >();

  constructor(n: number) {
    this.workers = Array.from({ length: n }, () => {
      const w = startWorker();
      w.on('message', (r: CropReply) => this.onReply(r));
      w.on('error', (e) => this.failAll(e));
      return w;
    });
  }

  private onReply(r: CropReply): void {
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if (!p) return;
    if ('data' in r) p.resolve(r.data);
    else p.reject(r.code ? new FidlabError(r.code, r.message) : new Error(r.message));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  run(req: Omit<CropRequest, 'id'>): Promise<Float32Array> {
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length];
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id } satisfies CropRequest);
    });
  }

  async close(): Promise<void> {
    this.failAll(new Error('crop pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
