import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { NT_WORKER_SOURCE, ntKernels } from './ntKernel.js';
import {
  NT_WASM_BYTES,
  WASM_PAD,
  wasmApi,
  type WasmMemory,
  type WasmModule,
  type WasmSymv,
  type WasmTile,
} from './wasmKernel.js';

/**
 * A small lazily created pool of worker threads for the GEMM kernels (`ntKernel.ts`), sharing
 * operands through SharedArrayBuffer. The calling thread stays synchronous: it posts the job,
 * claims tiles itself from the same atomic counter, then blocks in Atomics.wait until every tile
 * is written. A worker that is slow to start (the first job) just gets fewer tiles.
 *
 * Threads: `FIDLAB_THREADS` (an integer >= 1; default: os.availableParallelism()), read when the
 * pool is first needed; `gemmThreads.threads` overrides it. Workers are unref()'d so they never
 * keep the process alive. Any failure to start workers falls back to single-threaded code.
 * Kernel: the WebAssembly SIMD one (operands copied into one shared wasm memory) unless
 * `FIDLAB_KERNEL=js` or `gemmThreads.kernel = 'js'`; results differ from the JS kernel's only in
 * summation order (~1e-16 relative), and are bitwise the same for any thread count either way.
 */
export const gemmThreads: {
  /** Total threads including the caller; undefined: FIDLAB_THREADS or the core count. */
  threads: number | undefined;
  /** Products below this many multiply-adds stay on the calling thread. */
  minMultiplyAdds: number;
  /**
   * Workers are started only once the products big enough to use them (>= minMultiplyAdds) add up
   * to this many multiply-adds in the process; until then they run on the calling thread. Starting
   * a worker costs ~30 ms of CPU (isolate, kernel source, wasm instance: measured 44 ms CPU for a
   * cold 300 x 2048 x 300 product on one thread, 70-79 ms with one worker started for it) and it
   * takes at most half of a product, so a one-shot FID of n=300, d=2048 features (1.8e8) is
   * cheaper without it, while a process that keeps computing (bootstrap, a server, the second
   * product of the same size) starts the pool and keeps it.
   */
  minMultiplyAddsToStart: number;
  /**
   * 'wasm': the WebAssembly SIMD kernel (wasmKernel.ts), 'js': the JavaScript one; 'auto' (the
   * default): wasm when it can be instantiated and FIDLAB_KERNEL is not 'js'.
   */
  kernel: 'auto' | 'wasm' | 'js';
} = { threads: undefined, minMultiplyAdds: 2e7, minMultiplyAddsToStart: 2e8, kernel: 'auto' };

/**
 * The WebAssembly kernel on one shared memory (every thread instantiates it there once). Operands
 * are copied in, zero padded to the kernel's shape contract; the memory grows to the largest
 * product seen and is kept (no reallocation per call).
 */
interface WasmState {
  module: WasmModule;
  memory: WasmMemory;
  tile: WasmTile;
  symv: WasmSymv;
}
let wasmState: WasmState | null | undefined;

function wasmKernel(): WasmState | null {
  if (wasmState === undefined) {
    try {
      if (!wasmApi) throw new Error('no WebAssembly');
      const module = new wasmApi.Module(NT_WASM_BYTES);
      const memory = new wasmApi.Memory({ initial: 1, maximum: 65536, shared: true });
      const inst = new wasmApi.Instance(module, { env: { mem: memory } });
      wasmState = {
        module,
        memory,
        tile: inst.exports.tile as WasmTile,
        symv: inst.exports.symv as WasmSymv,
      };
    } catch {
      wasmState = null;
    }
  }
  return wasmState;
}

/** Bytes at the start of the wasm memory held by reserveWasm (products go after them). */
let reserved = 0;

/**
 * Holds the first `bytes` of the wasm memory for a caller that keeps data there across products
 * (the blocked tridiagonalisation keeps its matrix there for the wasm symv). Returns null when
 * the wasm kernel is off or unavailable. Views on the memory must be re-made after any product
 * (the memory may grow): use `view()`. Call `release()` when done (not reentrant).
 */
export function reserveWasm(
  bytes: number,
): { symv: WasmSymv; view: () => Float64Array; release: () => void } | null {
  const wk = useWasm();
  if (!wk || reserved !== 0 || !growTo(wk, bytes)) return null;
  reserved = ceilTo(bytes, 16);
  return {
    symv: wk.symv,
    view: () => new Float64Array(wk.memory.buffer),
    release: () => {
      reserved = 0;
    },
  };
}

/**
 * q += A v for rows [s, e) of a lower-stored symmetric matrix (wasm symv, see wasmKernel.ts),
 * split between this thread and one worker that waits on a shared counter between calls (a
 * postMessage per call would cost more than the call at these sizes). The worker's rows go to
 * `q2` (zeroed here) and are added into q, so each entry has one fixed summation order.
 * Open one per stretch of calls with no other product in between (the worker is busy while the
 * session is open); null when no worker or no wasm kernel is available.
 */
export function symvSession(): {
  run(a: number, ns: number, s: number, e: number, v: number, q: number, q2: number): void;
  close(): void;
} | null {
  const wk = useWasm();
  if (!wk || helperCount(Infinity) === 0) return null;
  const worker = workers[0];
  const ctl = new Int32Array(new SharedArrayBuffer(4 * 9));
  worker.postMessage({ symvSession: true, ctl });
  let gen = 0;
  let failed = false; // the worker reported an error (ctl[1] = -1) and left the session
  const signal = (params: number[]) => {
    ctl.set(params, 2);
    gen++;
    Atomics.store(ctl, 0, gen);
    Atomics.notify(ctl, 0);
  };
  const wait = (): boolean => {
    for (;;) {
      const g = Atomics.load(ctl, 1);
      if (g === gen) return true;
      if (g === -1) {
        failed = true;
        dropAllWorkers(); // from here on everything runs on this thread
        return false;
      }
      if (Atomics.wait(ctl, 1, g, 1000) === 'timed-out' && process.env.FIDLAB_DEBUG_WORKERS)
        console.error('symv session waiting', Array.from(ctl), gen);
    }
  };
  return {
    run(a, ns, s, e, v, q, q2) {
      if (failed) {
        wk.symv(a, ns, s, s, e, v, q);
        return;
      }
      const m = e - s;
      // Rows [s, mid) here, [mid, e) on the worker: equal numbers of stored entries.
      const mid = s + Math.round(m / Math.SQRT2);
      let mem = new Float64Array(wk.memory.buffer);
      mem.fill(0, q2 / 8 + s, q2 / 8 + e);
      signal([a, ns, s, mid, e, v, q2]);
      wk.symv(a, ns, s, s, mid, v, q);
      // The worker's rows also reach back into q2[s..mid).
      if (!wait()) {
        // Redo the worker's rows here, from zero (it may have stopped half-way).
        mem = new Float64Array(wk.memory.buffer);
        mem.fill(0, q2 / 8 + s, q2 / 8 + e);
        wk.symv(a, ns, s, mid, e, v, q2);
      }
      for (let j = s; j < e; j++) mem[q / 8 + j] += mem[q2 / 8 + j];
    },
    close() {
      if (failed) return;
      signal([-1, 0, 0, 0, 0, 0, 0]);
      wait();
    },
  };
}

function useWasm(): WasmState | null {
  const k = gemmThreads.kernel === 'auto' ? process.env.FIDLAB_KERNEL : gemmThreads.kernel;
  return k === 'js' ? null : wasmKernel();
}

const MAX_THREADS = 16;
let workers: Worker[] = [];
let broken = typeof SharedArrayBuffer === 'undefined';
/** Multiply-adds of the products so far that were big enough for workers (see minMultiplyAddsToStart). */
let eligibleMultiplyAdds = 0;

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
  eligibleMultiplyAdds += macs;
  if (eligibleMultiplyAdds < gemmThreads.minMultiplyAddsToStart) {
    return Math.min(want, workers.length);
  }
  try {
    while (workers.length < want) {
      const wk = wasmKernel();
      const workerData = wk ? { module: wk.module, memory: wk.memory } : undefined;
      const w = new Worker(NT_WORKER_SOURCE, { eval: true, workerData });
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

export type Part = 'full' | 'upper' | 'lower';

/** Tile edge for the work queue: a 64 x 64 tile of C is ~8M multiply-adds at k = 2048. */
const TILE = 64;

/**
 * C [m, n] = A B^T for row-major A [m, k], B [n, k] (B may be the same array as A). With
 * part 'upper' ('lower'), only tiles on or above (below) the diagonal are computed (m = n; the
 * other tiles are 0: the caller mirrors or ignores them).
 * Uses `helpers` extra workers (from helperCount); the result is an ordinary Float64Array and is
 * bitwise identical for any thread count. `kStart(i0, j0)`: the tile at (i0, j0) sums only over
 * p >= kStart (the caller knows the operands are zero below it: triangular factors).
 */
export function ntProduct(
  a: Float64Array,
  m: number,
  b: Float64Array,
  n: number,
  k: number,
  part: Part,
  helpers: number,
  kStart?: (i0: number, j0: number) => number,
): Float64Array {
  const tileList: number[] = [];
  for (let i0 = 0; i0 < m; i0 += TILE) {
    for (let j0 = part === 'upper' ? i0 : 0; j0 < (part === 'lower' ? i0 + 1 : n); j0 += TILE) {
      const ps = kStart ? Math.max(0, Math.min(k, kStart(i0, j0))) : 0;
      tileList.push(i0, Math.min(m, i0 + TILE), j0, Math.min(n, j0 + TILE), ps);
    }
  }
  const count = tileList.length / 5;
  const wk = k > 0 && m > 0 && n > 0 ? useWasm() : null;
  if (wk) {
    const c = wasmProduct(wk, a, m, b, n, k, part, helpers, kStart);
    if (c) return c;
  }
  const pool = helpers > 0 && count > 1 ? workers.slice(0, helpers) : [];
  if (pool.length === 0) {
    const c = new Float64Array(m * n);
    for (let t = 0; t < count; t++) {
      const q = 5 * t;
      const [i0, i1, j0, j1, ps] = tileList.slice(q, q + 5);
      ntKernels.ntTile(a, b, c, k, n, i0, i1, j0, j1, ps);
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
  waitForTiles(ctrl, count);
  if (Atomics.load(ctrl, 2) !== 0) {
    // A worker failed: stop using workers and redo, from zero, every tile not marked done.
    dropAllWorkers();
    for (let t = 0; t < count; t++) {
      if (Atomics.load(done, t) === 1) continue;
      const q = 5 * t;
      const [i0, i1, j0, j1, ps] = tileList.slice(q, q + 5);
      for (let i = i0; i < i1; i++) c.fill(0, i * n + j0, i * n + j1);
      ntKernels.ntTile(sa, sb, c, k, n, i0, i1, j0, j1, ps);
    }
  }
  return new Float64Array(c);
}

const ceilTo = (x: number, q: number) => Math.ceil(x / q) * q;

/** Grows the wasm memory to at least `bytes` (kept afterwards); false when it cannot. */
function growTo(wk: WasmState, bytes: number): boolean {
  const have = wk.memory.buffer.byteLength;
  if (bytes <= have) return true;
  if (bytes > 65536 * 65535) return false;
  try {
    wk.memory.grow(Math.ceil((bytes - have) / 65536));
    return true;
  } catch {
    return false;
  }
}

/** ntProduct on the WebAssembly kernel; undefined when the operands do not fit in 4 GiB. */
function wasmProduct(
  wk: WasmState,
  a: Float64Array,
  m: number,
  b: Float64Array,
  n: number,
  k: number,
  part: Part,
  helpers: number,
  kStart?: (i0: number, j0: number) => number,
): Float64Array | undefined {
  const mp = ceilTo(m, WASM_PAD.rows);
  const np = ceilTo(n, WASM_PAD.rows); // rows of B are rows of C^T: same padding both ways
  const kp = ceilTo(k, WASM_PAD.k);
  const same = b === a && m === n;
  const aOff = reserved;
  const bOff = same ? aOff : aOff + mp * kp * 8;
  const cOff = same ? aOff + mp * kp * 8 : bOff + np * kp * 8;
  if (!growTo(wk, cOff + mp * np * 8)) return undefined; // too big: the JS kernel takes it
  const mem = new Float64Array(wk.memory.buffer);
  const load = (x: Float64Array, rows: number, rowsPadded: number, off: number) => {
    const o = off / 8;
    for (let i = 0; i < rows; i++) {
      mem.set(x.subarray(i * k, i * k + k), o + i * kp);
      if (kp > k) mem.fill(0, o + i * kp + k, o + (i + 1) * kp);
    }
    mem.fill(0, o + rows * kp, o + rowsPadded * kp);
  };
  load(a, m, mp, aOff);
  if (!same) load(b, n, np, bOff);
  mem.fill(0, cOff / 8, cOff / 8 + mp * np);
  const tileList: number[] = [];
  for (let i0 = 0; i0 < mp; i0 += TILE) {
    for (let j0 = part === 'upper' ? i0 : 0; j0 < (part === 'lower' ? i0 + 1 : np); j0 += TILE) {
      let ps = kStart ? Math.max(0, kStart(i0, j0)) : 0;
      ps -= ps % WASM_PAD.k;
      if (ps >= kp) continue; // the whole tile is a zero sum
      tileList.push(i0, Math.min(mp, i0 + TILE), j0, Math.min(np, j0 + TILE), ps);
    }
  }
  const count = tileList.length / 5;
  const tiles = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, tileList.length)));
  tiles.set(tileList);
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * 4)); // next, finished, error
  const done = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, count)));
  const pool = helpers > 0 && count > 1 ? workers.slice(0, helpers) : [];
  if (pool.length > 0) {
    const job = { wasm: true, a: aOff, b: bOff, c: cOff, k: kp, n: np, tiles, ctrl, done };
    for (const w of pool) w.postMessage(job);
  }
  ntKernels.ntRunWasm(wk.tile, aOff, bOff, cOff, kp, np, tiles, ctrl, done);
  if (pool.length > 0) waitForTiles(ctrl, count);
  if (Atomics.load(ctrl, 2) !== 0) {
    // A worker failed: stop using workers and redo, from zero, every tile not marked done.
    dropAllWorkers();
    for (let t = 0; t < count; t++) {
      if (Atomics.load(done, t) === 1) continue;
      const [i0, i1, j0, j1, ps] = tileList.slice(5 * t, 5 * t + 5);
      for (let i = i0; i < i1; i++) mem.fill(0, cOff / 8 + i * np + j0, cOff / 8 + i * np + j1);
      wk.tile(aOff, bOff, cOff, kp, np, i0, i1, j0, j1, ps);
    }
  }
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) c.set(mem.subarray(cOff / 8 + i * np, cOff / 8 + i * np + n), i * n);
  return c;
}

/** Blocks until `count` tiles are finished or a worker flagged an error (ctrl[2]). */
function waitForTiles(ctrl: Int32Array, count: number): void {
  for (;;) {
    const finished = Atomics.load(ctrl, 1);
    if (finished >= count || Atomics.load(ctrl, 2) !== 0) return;
    if (Atomics.wait(ctrl, 1, finished, 1000) === 'timed-out' && process.env.FIDLAB_DEBUG_WORKERS)
      console.error('tiles waiting', Array.from(ctrl), count);
  }
}

function dropAllWorkers(): void {
  broken = true;
  for (const w of workers) void w.terminate();
  workers = [];
}

/**
 * In place in the reserved wasm region (see reserveWasm): C += A B^T on the tiles on or below
 * the diagonal of an m x m block of C at byte offset cOff with row stride ldc (doubles); A, B
 * [m, k] ordinary arrays. Rows and columns are padded to multiples of 4 with zero operand rows,
 * so the padding only adds 0.0 to up to 3 rows/columns past the block: the caller keeps them
 * writable and ignores them (as it does the block's upper triangle, which diagonal tiles touch).
 */
export function addLowerProductInPlace(
  cOff: number,
  ldc: number,
  a: Float64Array,
  b: Float64Array,
  m: number,
  k: number,
  helpers: number,
): void {
  const wk = useWasm();
  if (!wk || reserved === 0) throw new Error('addLowerProductInPlace needs a reserveWasm region');
  const mp = ceilTo(m, WASM_PAD.rows);
  const kp = ceilTo(k, WASM_PAD.k);
  const aOff = reserved;
  const bOff = aOff + mp * kp * 8;
  if (!growTo(wk, bOff + mp * kp * 8)) {
    throw new FidlabError(ErrorCode.NUMERIC_FAILURE, 'wasm memory cannot grow for a GEMM update');
  }
  const mem = new Float64Array(wk.memory.buffer);
  for (const [x, off] of [
    [a, aOff],
    [b, bOff],
  ] as const) {
    const o = off / 8;
    mem.fill(0, o, o + mp * kp);
    for (let i = 0; i < m; i++) mem.set(x.subarray(i * k, i * k + k), o + i * kp);
  }
  const tileList: number[] = [];
  for (let i0 = 0; i0 < mp; i0 += TILE) {
    for (let j0 = 0; j0 <= i0; j0 += TILE) {
      tileList.push(i0, Math.min(mp, i0 + TILE), j0, Math.min(mp, j0 + TILE), 0);
    }
  }
  const count = tileList.length / 5;
  const tiles = new Int32Array(new SharedArrayBuffer(4 * tileList.length));
  tiles.set(tileList);
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * 4)); // next, finished, error
  const done = new Int32Array(new SharedArrayBuffer(4 * count));
  const pool = helpers > 0 && count > 1 ? workers.slice(0, helpers) : [];
  for (const w of pool) {
    w.postMessage({ wasm: true, a: aOff, b: bOff, c: cOff, k: kp, n: ldc, tiles, ctrl, done });
  }
  ntKernels.ntRunWasm(wk.tile, aOff, bOff, cOff, kp, ldc, tiles, ctrl, done);
  if (pool.length > 0) waitForTiles(ctrl, count);
  if (Atomics.load(ctrl, 2) !== 0) {
    // Tiles accumulate in place, so a half-done tile cannot be redone: fail the call.
    dropAllWorkers();
    throw new FidlabError(ErrorCode.NUMERIC_FAILURE, 'a GEMM worker thread failed mid-update');
  }
}
