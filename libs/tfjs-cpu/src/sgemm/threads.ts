/**
 * A float32 GEMM on all cores: the wasm kernel of kernel.ts runs in the calling thread and in
 * `threads - 1` worker threads, all on one shared WebAssembly memory (the arena). Callers lay
 * out A, B and C in the arena (`reserve`, then `f32()`), call `gemm`, and read C back. The call
 * is synchronous: the caller posts each worker its share (a range of rows or of columns of C)
 * through a shared control array, computes its own share, then waits for the others.
 *
 * Workers spin for a short while after a job before sleeping in Atomics.wait: a training step
 * issues a GEMM every few hundred microseconds, and waking a sleeping thread costs tens of them.
 * Each output element is computed by one thread in one order, so results do not depend on the
 * thread count.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  SGEMM_PAD,
  SGEMM_WASM_BYTES,
  type Gather,
  type GatherSum,
  type SgemmBlock,
} from './kernel.js';

/** Reduction block: 4 rows of A (4 KB) stay in L1 and KC rows of B in L2 while C tiles sweep. */
const KC = 256;
/** How long a thread spins on the control word before sleeping (ms). */
const SPIN_MS = 0.5;
const PAGE = 65536;
/** Control array: [0] job sequence, [1 + t] done sequence of worker t (negative: failed). */
const ARGS_AT = 64;
const ARGS_LEN = 16;

interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** One GEMM: C[m, n] (+)= A[m, k] B[k, n]; offsets in floats into the arena. */
export interface GemmJob {
  a: number;
  b: number;
  c: number;
  lda: number;
  ldb: number;
  ldc: number;
  /** Rows of C, a multiple of SGEMM_PAD.rows (pad A with rows the caller ignores in C). */
  m: number;
  /** Columns of C, a multiple of SGEMM_PAD.cols (pad B and C with zero columns). */
  n: number;
  k: number;
  /** Accumulate into C instead of overwriting it. */
  add?: boolean;
}

/** Job kinds in the control array's first argument word. */
const GEMM = 0;
const GATHER = 1;
const GATHER_SUM = 2;

// The worker: instantiates the kernels on the shared memory, then loops on the control array.
// Arguments are in floats (4-byte words) and converted to byte offsets here, as in runShare.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctl, slot, KC, SPIN_MS, ARGS_AT, ARGS_LEN } = workerData;
const { block, gather, gatherSum } = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
let seen = 0;
for (;;) {
  let spins = 0;
  const t0 = performance.now();
  while (Atomics.load(ctl, 0) === seen) {
    if ((++spins & 1023) === 0 && performance.now() - t0 > SPIN_MS) Atomics.wait(ctl, 0, seen, 1000);
  }
  seen = Atomics.load(ctl, 0);
  const g = ARGS_AT + slot * ARGS_LEN;
  const kind = ctl[g];
  const x = Array.from(ctl.subarray(g + 1, g + 14));
  let status = seen;
  try {
    if (kind === ${GEMM}) {
      const [a, b, c, lda, ldb, ldc, k, i0, i1, j0, j1, add] = x;
      if (i1 > i0 && j1 > j0) {
        for (let p0 = 0; p0 < k; p0 += KC) {
          block(4 * a, 4 * b, 4 * c, lda, ldb, ldc, p0, Math.min(p0 + KC, k), i0, i1, j0, j1, add || p0 > 0 ? 1 : 0);
        }
      }
    } else if (kind === ${GATHER}) {
      const [dst, src, idx, t0, t1] = x;
      if (t1 > t0) gather(4 * dst, 4 * src, 4 * idx, t0, t1);
    } else {
      const [dst, src, idx, r, t0, t1] = x;
      if (t1 > t0) gatherSum(4 * dst, 4 * src, 4 * idx, r, t0, t1);
    }
  } catch (e) {
    status = -seen;
  }
  Atomics.store(ctl, 1 + slot, status);
  Atomics.notify(ctl, 1 + slot);
}
`;

export class Sgemm {
  readonly threads: number;
  private readonly memory: WasmMemory;
  private readonly block: SgemmBlock;
  private readonly gatherFn: Gather;
  private readonly gatherSumFn: GatherSum;
  private readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;
  private view: Float32Array;

  constructor(threads: number) {
    const module = new wasm.Module(SGEMM_WASM_BYTES);
    this.memory = new wasm.Memory({ initial: 16, maximum: 65536, shared: true });
    const ex = new wasm.Instance(module, { env: { mem: this.memory } }).exports;
    this.block = ex.block as SgemmBlock;
    this.gatherFn = ex.gather as Gather;
    this.gatherSumFn = ex.gatherSum as GatherSum;
    this.view = new Float32Array(this.memory.buffer);
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * (ARGS_AT + ARGS_LEN * threads)));
    this.threads = Math.max(1, threads);
    for (let slot = 0; slot < this.threads - 1; slot++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module,
          memory: this.memory,
          ctl: this.ctl,
          slot,
          KC,
          SPIN_MS,
          ARGS_AT,
          ARGS_LEN,
        },
      });
      w.unref(); // idle workers must not keep the process alive
      this.workers.push(w);
    }
  }

  /** Makes the arena at least `floats` long (invalidates earlier f32() views when it grows). */
  reserve(floats: number): void {
    const bytes = floats * 4;
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      this.memory.grow(Math.ceil((bytes - have) / PAGE));
      this.view = new Float32Array(this.memory.buffer);
    }
  }

  /** The arena as floats (valid until the next `reserve` that grows it). */
  f32(): Float32Array {
    if (this.view.buffer.byteLength !== this.memory.buffer.byteLength) {
      this.view = new Float32Array(this.memory.buffer);
    }
    return this.view;
  }

  /** Runs one GEMM; `parallel: false` keeps it on the calling thread (tiny products). */
  gemm(j: GemmJob, parallel = true): void {
    const { rows, cols } = SGEMM_PAD;
    if (j.m % rows || j.n % cols || j.m <= 0 || j.n <= 0 || j.k <= 0) {
      throw new Error(`sgemm: bad shape m=${j.m} n=${j.n} k=${j.k} (m % 4, n % 8 must be 0)`);
    }
    // Share rows when there are enough of them, else columns (deep layers: few pixels).
    const T = parallel ? this.threads : 1;
    const byRows = j.m / rows >= 2 * T || j.m / rows >= j.n / cols;
    const unit = byRows ? rows : cols;
    const units = (byRows ? j.m : j.n) / unit;
    const share = (t: number) => [
      Math.floor((units * t) / T) * unit,
      Math.floor((units * (t + 1)) / T) * unit,
    ];
    const args = (t: number) => {
      const [u0, u1] = share(t);
      const [i0, i1, j0, j1] = byRows ? [u0, u1, 0, j.n] : [0, j.m, u0, u1];
      return [j.a, j.b, j.c, j.lda, j.ldb, j.ldc, j.k, i0, i1, j0, j1, j.add ? 1 : 0];
    };
    this.dispatch(GEMM, T, args);
  }

  /** dst[t] = arena[src + idx[t] / 4] for t < n (idx: an Int32 table in the arena, in bytes). */
  gather(dst: number, src: number, idx: number, n: number, parallel = true): void {
    const T = parallel ? this.threads : 1;
    const range = (t: number) => [Math.floor((n * t) / T), Math.floor((n * (t + 1)) / T)];
    this.dispatch(GATHER, T, (t) => [dst, src, idx, ...range(t)]);
  }

  /** dst[t] += sum_{u < r} arena[src + idx[t * r + u] / 4] for t < n. */
  gatherSum(dst: number, src: number, idx: number, r: number, n: number, parallel = true): void {
    const T = parallel ? this.threads : 1;
    const range = (t: number) => [Math.floor((n * t) / T), Math.floor((n * (t + 1)) / T)];
    this.dispatch(GATHER_SUM, T, (t) => [dst, src, idx, r, ...range(t)]);
  }

  /** Posts share t >= 1 of a job to worker t - 1, runs share 0 here, waits for the workers. */
  private dispatch(kind: number, T: number, args: (t: number) => number[]): void {
    const seq = ++this.seq;
    for (let t = 1; t < T; t++) {
      const g = ARGS_AT + (t - 1) * ARGS_LEN;
      this.ctl[g] = kind;
      this.ctl.set(args(t), g + 1);
    }
    if (T > 1) {
      Atomics.store(this.ctl, 0, seq);
      Atomics.notify(this.ctl, 0);
    }
    this.runShare(kind, args(0));
    for (let t = 1; t < T; t++) {
      const slot = 1 + (t - 1);
      let spins = 0;
      let v: number;
      // Sleep only on the value seen not to be done: a store after it wakes the wait at once.
      while (Math.abs((v = Atomics.load(this.ctl, slot))) !== seq) {
        if ((++spins & 1023) === 0) Atomics.wait(this.ctl, slot, v, 1);
      }
      if (v < 0) throw new Error(`sgemm: worker ${t} failed`);
    }
  }

  private runShare(kind: number, x: number[]): void {
    if (kind === GEMM) {
      const [a, b, c, lda, ldb, ldc, k, i0, i1, j0, j1, add] = x;
      if (i1 <= i0 || j1 <= j0) return;
      for (let p0 = 0; p0 < k; p0 += KC) {
        const p1 = Math.min(p0 + KC, k);
        this.block(4 * a, 4 * b, 4 * c, lda, ldb, ldc, p0, p1, i0, i1, j0, j1, add || p0 ? 1 : 0);
      }
    } else if (kind === GATHER) {
      const [dst, src, idx, t0, t1] = x;
      if (t1 > t0) this.gatherFn(4 * dst, 4 * src, 4 * idx, t0, t1);
    } else {
      const [dst, src, idx, r, t0, t1] = x;
      if (t1 > t0) this.gatherSumFn(4 * dst, 4 * src, 4 * idx, r, t0, t1);
    }
  }

  /** The arena as int32 (for index tables). */
  i32(): Int32Array {
    return new Int32Array(this.f32().buffer);
  }
}

let shared: Sgemm | undefined;

/**
 * The process's sgemm, created on first use with FIDLAB_CPU_THREADS threads (default: every
 * core the OS offers this process).
 */
export function sgemm(): Sgemm {
  if (!shared) {
    const env = Number(process.env.FIDLAB_CPU_THREADS);
    const threads = Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
    shared = new Sgemm(threads);
  }
  return shared;
}
