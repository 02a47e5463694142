import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { NT_WORKER_SOURCE, ntKernels } from './ntKernel.js';

/**
 * A small lazily created pool of worker threads for the GEMM kernels (`ntKernel.ts`), sharing
 * operands through SharedArrayBuffer. The calling thread stays synchronous: it posts the job,
 * claims tiles itself from the same atomic counter, then blocks in Atomics.wait until every tile
 * is written. A worker that is slow to start (the first job) just gets fewer tiles.
 *
 * Threads: `FIDLAB_THREADS` (an integer >= 1; default: os.availableParallelism()), read when the
 * pool is first needed; `gemmThreads.threads` overrides it. Workers are unref()'d so they never
 * keep the process alive. Any failure to start workers falls back to single-threaded code.
 */
export const gemmThreads: {
  /** Total threads including the caller; undefined: FIDLAB_THREADS or the core count. */
  threads: number | undefined;
  /** Products below this many multiply-adds stay on the calling thread. */
  minMultiplyAdds: number;
} = { threads: undefined, minMultiplyAdds: 2e7 };

const MAX_THREADS = 16;
let workers: Worker[] = [];
let broken = typeof SharedArrayBuffer === 'undefined';

function wantedThreads(): number {
  let t = gemmThreads.threads;
  if (t === undefined) {
    const env = Number.parseInt(process.env.FIDLAB_THREADS ?? '', 10);
    t = Number.isFinite(env) && env >= 1 ? env : availableParallelism();
  }
  return Math.max(1, Math.min(MAX_THREADS, Math.floor(t)));
}

/** Extra workers to use for a product of `macs` multiply-adds (0: run on this thread). */
export function helperCount(macs: number): number {
  if (broken || macs < gemmThreads.minMultiplyAdds) return 0;
  const want = wantedThreads() - 1;
  try {
    while (workers.length < want) {
      const w = new Worker(NT_WORKER_SOURCE, { eval: true });
      w.unref();
      w.on('error', () => dropWorker(w));
      w.on('exit', () => dropWorker(w));
      workers.push(w);
    }
  } catch {
    broken = workers.length === 0;
  }
  return Math.min(want, workers.length);
}

function dropWorker(w: Worker): void {
  workers = workers.filter((x) => x !== w);
}

/** A zeroed Float64Array on a SharedArrayBuffer (when `shared`) or an ordinary one. */
export function allocF64(length: number, shared: boolean): Float64Array {
  return shared
    ? new Float64Array(new SharedArrayBuffer(length * Float64Array.BYTES_PER_ELEMENT))
    : new Float64Array(length);
}

function toShared(x: Float64Array): Float64Array {
  if (x.buffer instanceof SharedArrayBuffer) return x;
  const s = allocF64(x.length, true);
  s.set(x);
  return s;
}

/** Tile edge for the work queue: a 64 x 64 tile of C is ~8M multiply-adds at k = 2048. */
const TILE = 64;

/**
 * C [m, n] = A B^T for row-major A [m, k], B [n, k] (B may be the same array as A). With
 * `upper`, only tiles on or above the diagonal are computed (m = n; the caller mirrors).
 * Uses `helpers` extra workers (from helperCount); the result is an ordinary Float64Array and is
 * bitwise identical for any thread count.
 */
export function ntProduct(
  a: Float64Array,
  m: number,
  b: Float64Array,
  n: number,
  k: number,
  upper: boolean,
  helpers: number,
): Float64Array {
  const tileList: number[] = [];
  for (let i0 = 0; i0 < m; i0 += TILE) {
    for (let j0 = upper ? i0 : 0; j0 < n; j0 += TILE) {
      tileList.push(i0, Math.min(m, i0 + TILE), j0, Math.min(n, j0 + TILE));
    }
  }
  const count = tileList.length >> 2;
  const pool = helpers > 0 && count > 1 ? workers.slice(0, helpers) : [];
  if (pool.length === 0) {
    const c = new Float64Array(m * n);
    for (let t = 0; t < count; t++) {
      const q = 4 * t;
      ntKernels.ntTile(
        a,
        b,
        c,
        k,
        n,
        tileList[q],
        tileList[q + 1],
        tileList[q + 2],
        tileList[q + 3],
      );
    }
    return c;
  }
  const sa = toShared(a);
  const sb = b === a ? sa : toShared(b);
  const c = allocF64(m * n, true);
  const tiles = new Int32Array(new SharedArrayBuffer(4 * tileList.length));
  tiles.set(tileList);
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * 4)); // next, finished, error
  const done = new Int32Array(new SharedArrayBuffer(4 * count));
  const job = { a: sa, b: sb, c, k, n, tiles, ctrl, done };
  for (const w of pool) w.postMessage(job);
  ntKernels.ntRun(sa, sb, c, k, n, tiles, ctrl, done);
  for (;;) {
    const finished = Atomics.load(ctrl, 1);
    if (finished >= count || Atomics.load(ctrl, 2) !== 0) break;
    Atomics.wait(ctrl, 1, finished, 1000);
  }
  if (Atomics.load(ctrl, 2) !== 0) {
    // A worker failed: stop using workers and redo, from zero, every tile not marked done.
    broken = true;
    for (const w of workers) void w.terminate();
    workers = [];
    for (let t = 0; t < count; t++) {
      if (Atomics.load(done, t) === 1) continue;
      const q = 4 * t;
      const [i0, i1, j0, j1] = [tileList[q], tileList[q + 1], tileList[q + 2], tileList[q + 3]];
      for (let i = i0; i < i1; i++) c.fill(0, i * n + j0, i * n + j1);
      ntKernels.ntTile(sa, sb, c, k, n, i0, i1, j0, j1);
    }
  }
  return new Float64Array(c);
}
