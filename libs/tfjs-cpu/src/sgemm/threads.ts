/**
 * A float32 GEMM on all cores: the wasm kernel of kernel.ts runs in the calling thread and in
 * `threads - 1` worker threads, all on one shared WebAssembly memory (the arena). Callers lay
 * out A, B and C in the arena (`reserve`, then `f32()`), call `gemm`, and read C back. The call
 * is synchronous: the caller posts the job in a shared control array, and every thread (the
 * caller included) claims small runs of it (rows or columns of C, elements of a gather) from a
 * shared counter until none are left, so a thread that is slow to start or descheduled by the
 * host holds up the others by one run at most. The caller then waits for the workers to finish.
 *
 * Workers spin for SPIN_MS after a job before sleeping in Atomics.wait: waking a sleeping thread
 * costs tens of microseconds, but a longer spin (0.5 ms was tried) slowed the calling thread on a
 * 2-vCPU VM, the spinning vCPU competing with it for the host core.
 * Each output element is computed by one thread in one order, so results do not depend on the
 * thread count.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  SGEMM_PAD,
  SGEMM_WASM_BYTES,
  type CopyRuns,
  type Gather,
  type GatherSum,
  type GatherSumRuns,
  type SgemmBlock,
} from './kernel.js';
import type { WgFilter, WgIn, WgOut } from './winograd.js';

/** Reduction block: 4 rows of A (4 KB) stay in L1 and KC rows of B in L2 while C tiles sweep. */
const KC = 256;
/** How long a thread spins on the control word before sleeping (ms). */
const SPIN_MS = 0.05;
const PAGE = 65536;
/**
 * Control array: [0] job sequence, [1 + t] done sequence of worker t (negative: failed), from
 * JOB_AT the job: kind, units, units per claim, next unclaimed unit, then its arguments.
 */
const JOB_AT = 16;
/** A job kind tries the thread count it is not using every EXPLORE jobs. */
const EXPLORE = 16;
const statsKey = (kind: number, cost: number) => kind * 64 + Math.floor(Math.log2(cost + 1));
/** Elements per claim in a gather. */
const GATHER_RUN = 4096;

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

/** Job kinds (the first word of the job). */
const GEMM = 0;
const GATHER = 1;
const GATHER_SUM = 2;
const COPY_RUNS = 3;
const GATHER_SUM_RUNS = 4;
const WG_IN = 5;
const WG_OUT = 6;
const WG_FILTER = 7;
/** Winograd tiles (or filter channels) per claim. */
const TILE_RUN = 16;

interface Kernels {
  block: SgemmBlock;
  gather: Gather;
  gatherSum: GatherSum;
  copyRuns: CopyRuns;
  gatherSumRuns: GatherSumRuns;
  wgIn2: WgIn;
  wgOut2: WgOut;
  wgFilter2: WgFilter;
  wgIn4: WgIn;
  wgOut4: WgOut;
  wgFilter4: WgFilter;
}

/**
 * Claims runs of the posted job and computes them until none are left. Runs in every thread: it
 * is self-contained because its source is also pasted into the worker. Offsets in the job are in
 * floats (4-byte words); the kernels take bytes.
 */
function work(ex: Kernels, ctl: Int32Array, at: number, kc: number): void {
  const kind = ctl[at];
  const units = ctl[at + 1];
  const run = ctl[at + 2];
  const x = ctl.subarray(at + 4, at + 18);
  for (;;) {
    const u0 = Atomics.add(ctl, at + 3, run);
    if (u0 >= units) return;
    const u1 = Math.min(u0 + run, units);
    if (kind === 0) {
      // a, b, c, lda, ldb, ldc, m, n, k, add, byRows: units are 4-row or 8-column blocks of C.
      const [i0, i1, j0, j1] = x[10] ? [4 * u0, 4 * u1, 0, x[7]] : [0, x[6], 8 * u0, 8 * u1];
      for (let p0 = 0; p0 < x[8]; p0 += kc) {
        const p1 = Math.min(p0 + kc, x[8]);
        const add = x[9] || p0 > 0 ? 1 : 0;
        ex.block(4 * x[0], 4 * x[1], 4 * x[2], x[3], x[4], x[5], p0, p1, i0, i1, j0, j1, add);
      }
    } else if (kind === 1) {
      ex.gather(4 * x[0], 4 * x[1], 4 * x[2], u0, u1);
    } else if (kind === 2) {
      ex.gatherSum(4 * x[0], 4 * x[1], 4 * x[2], x[3], u0, u1);
    } else if (kind === 3) {
      ex.copyRuns(4 * x[0], 4 * x[1], 4 * x[2], 4 * x[3], u0, u1);
    } else if (kind === 4) {
      ex.gatherSumRuns(4 * x[0], 4 * x[1], 4 * x[2], x[3], 4 * x[4], u0, u1);
    } else if (kind === 5) {
      // Winograd transforms: the last argument is the output tile side (2 or 4).
      const wgIn = x[6] === 4 ? ex.wgIn4 : ex.wgIn2;
      wgIn(4 * x[0], 4 * x[1], 4 * x[2], x[3], x[4], x[5], u0, u1);
    } else if (kind === 6) {
      const wgOut = x[7] === 4 ? ex.wgOut4 : ex.wgOut2;
      wgOut(4 * x[0], 4 * x[1], 4 * x[2], x[3], x[4], x[5], x[6], u0, u1);
    } else {
      const wgFilter = x[6] === 4 ? ex.wgFilter4 : ex.wgFilter2;
      wgFilter(4 * x[0], 4 * x[1], x[2], x[3], x[4], x[5], u0, u1);
    }
  }
}

// The worker: instantiates the kernels on the shared memory, then loops on the control array.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctl, slot, KC, SPIN_MS, JOB_AT } = workerData;
const ex = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
${work.toString()}
let seen = 0;
for (;;) {
  let spins = 0;
  const t0 = performance.now();
  while (Atomics.load(ctl, 0) === seen) {
    if ((++spins & 1023) === 0 && performance.now() - t0 > SPIN_MS) Atomics.wait(ctl, 0, seen, 1000);
  }
  seen = Atomics.load(ctl, 0);
  let status = seen;
  try {
    work(ex, ctl, JOB_AT, KC);
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
  private readonly kernels: Kernels;
  private readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;
  /** Per job kind: running mean time per unit of work with [1, all] threads. */
  private readonly stats: { perUnit: [number, number]; jobs: number }[] = [];
  private view: Float32Array;

  /** `adaptive: false` always shares eligible jobs between all threads (tests). */
  constructor(
    threads: number,
    private readonly adaptive = true,
  ) {
    const module = new wasm.Module(SGEMM_WASM_BYTES);
    this.memory = new wasm.Memory({ initial: 16, maximum: 65536, shared: true });
    this.kernels = new wasm.Instance(module, { env: { mem: this.memory } })
      .exports as unknown as Kernels;
    this.view = new Float32Array(this.memory.buffer);
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * (JOB_AT + 20)));
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
          JOB_AT,
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
    const T = this.choose(GEMM, j.m * j.n * j.k, parallel);
    const byRows = j.m / rows >= 2 * Math.max(T, 1) || j.m / rows >= j.n / cols;
    const units = byRows ? j.m / rows : j.n / cols;
    const run = Math.max(1, Math.ceil(units / (8 * Math.max(T, 1))));
    const args = [j.a, j.b, j.c, j.lda, j.ldb, j.ldc, j.m, j.n, j.k, j.add ? 1 : 0, byRows ? 1 : 0];
    this.dispatch(T, [GEMM, units, run, 0, ...args], j.m * j.n * j.k);
  }

  /** dst[t] = arena[src + idx[t] / 4] for t < n (idx: an Int32 table in the arena, in bytes). */
  gather(dst: number, src: number, idx: number, n: number, parallel = true): void {
    this.post(GATHER, n, GATHER_RUN, [dst, src, idx], n, parallel);
  }

  /** dst[t] += sum_{u < r} arena[src + idx[t * r + u] / 4] for t < n. */
  gatherSum(dst: number, src: number, idx: number, r: number, n: number, parallel = true): void {
    this.post(GATHER_SUM, n, GATHER_RUN, [dst, src, idx, r], n * r, parallel);
  }

  /**
   * Threads for a job that could be shared: all of them, or only this one when that has been
   * faster lately. On a VM the second vCPU can be slower than none (its host core busy, or shared
   * with the first), so each job kind keeps running averages of the time per unit of work with one
   * thread and with all, and tries the other choice every EXPLORE jobs to follow the host. They
   * are kept by job kind and size (a power of two of the work): small jobs gain less.
   * Returns 0 for a job that is not to be shared (run on this thread, not timed).
   */
  private choose(kind: number, cost: number, parallel: boolean): number {
    if (!parallel || this.threads === 1) return 0;
    if (!this.adaptive) return this.threads;
    const st = (this.stats[statsKey(kind, cost)] ??= { perUnit: [NaN, NaN], jobs: 0 });
    st.jobs++;
    const [one, all] = st.perUnit;
    if (Number.isNaN(one)) return 1;
    if (Number.isNaN(all)) return this.threads;
    const best = all <= one ? this.threads : 1;
    const other = best === 1 ? this.threads : 1;
    return st.jobs % EXPLORE === 0 ? other : best;
  }

  /** Run t (len floats) of dst = the len floats at arena[src + idx[t] / 4], for t < n. */
  copyRuns(dst: number, src: number, idx: number, len: number, n: number, parallel = true): void {
    const run = Math.max(1, Math.floor(GATHER_RUN / len));
    this.post(COPY_RUNS, n, run, [dst, src, idx, len], n * len, parallel);
  }

  /** Run t of dst (len floats, len % 4 = 0) += the r runs at arena[src + idx[t * r + u] / 4]. */
  gatherSumRuns(
    dst: number,
    src: number,
    idx: number,
    r: number,
    len: number,
    n: number,
    parallel = true,
  ): void {
    if (len % 4) throw new Error(`sgemm: gatherSumRuns needs runs of 4k floats, got ${len}`);
    const run = Math.max(1, Math.floor(GATHER_RUN / len));
    this.post(GATHER_SUM_RUNS, n, run, [dst, src, idx, r, len], n * len * r, parallel);
  }

  /**
   * Winograd F(m x m, 3x3) input transform (winograd.ts): tiles [0, n) at src + idx[t] / 4 into
   * the (m + 2)^2 planes of V at dst. Byte strides: pixel (`cBytes`), image row, plane.
   */
  wgIn(
    m: 2 | 4,
    dst: number,
    src: number,
    idx: number,
    rowBytes: number,
    cBytes: number,
    planeBytes: number,
    n: number,
    parallel = true,
  ): void {
    const args = [src, dst, idx, rowBytes, cBytes, planeBytes, m];
    this.post(WG_IN, n, TILE_RUN, args, (n * cBytes * m * m) / 16, parallel);
  }

  /** Winograd output transform: rows [0, n) of the (m + 2)^2 planes at src into m x m tiles. */
  wgOut(
    m: 2 | 4,
    dst: number,
    src: number,
    idx: number,
    planeBytes: number,
    mBytes: number,
    cBytes: number,
    rowBytes: number,
    n: number,
    parallel = true,
  ): void {
    const args = [src, dst, idx, planeBytes, mBytes, cBytes, rowBytes, m];
    this.post(WG_OUT, n, TILE_RUN, args, (n * cBytes * m * m) / 16, parallel);
  }

  /** Winograd filter transform of input channels [0, c) into the (m + 2)^2 planes of U at dst. */
  wgFilter(
    m: 2 | 4,
    dst: number,
    src: number,
    tapBytes: number,
    srcRow: number,
    dstRow: number,
    planeBytes: number,
    c: number,
    parallel = true,
  ): void {
    const args = [src, dst, tapBytes, srcRow, dstRow, planeBytes, m];
    this.post(WG_FILTER, c, TILE_RUN, args, (c * srcRow) / 4, parallel);
  }

  /**
   * A job of `units` claimed `run` at a time, with its arguments: on as many threads as `choose`
   * says for its kind and cost (its work, in the unit its running times are kept in).
   */
  private post(
    kind: number,
    units: number,
    run: number,
    args: number[],
    cost: number,
    parallel: boolean,
  ): void {
    this.dispatch(this.choose(kind, cost, parallel), [kind, units, run, 0, ...args], cost);
  }

  /** Posts a job, works on it here, and waits for the T - 1 workers to finish theirs. */
  private dispatch(T: number, job: number[], cost: number): void {
    if (T === 0 || !this.adaptive) return this.run(Math.max(T, 1), job);
    const t0 = performance.now();
    this.run(T, job);
    const mean = this.stats[statsKey(job[0], cost)].perUnit;
    const i = T === 1 ? 0 : 1;
    const x = (performance.now() - t0) / cost;
    mean[i] = Number.isNaN(mean[i]) ? x : mean[i] + 0.2 * (x - mean[i]);
  }

  private run(T: number, job: number[]): void {
    this.ctl.set(job, JOB_AT);
    const seq = ++this.seq;
    if (T > 1) {
      Atomics.store(this.ctl, 0, seq);
      Atomics.notify(this.ctl, 0);
    }
    let failed: unknown;
    try {
      work(this.kernels, this.ctl, JOB_AT, KC);
    } catch (e) {
      failed = e; // still wait: the workers must be done with this job before the next is posted
    }
    for (let t = 1; t < T; t++) {
      let spins = 0;
      let v: number;
      // Sleep only on the value seen not to be done: a store after it wakes the wait at once.
      while (Math.abs((v = Atomics.load(this.ctl, t))) !== seq) {
        if ((++spins & 1023) === 0) Atomics.wait(this.ctl, t, v, 1);
      }
      if (v < 0) failed ??= new Error(`sgemm: worker ${t} failed`);
    }
    if (failed) throw failed;
  }

  /** Stops the workers; the instance must not be used afterwards. */
  dispose(): void {
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }

  /** The arena as int32 (for index tables). */
  i32(): Int32Array {
    return new Int32Array(this.f32().buffer);
  }
}

let shared: Sgemm | undefined;
let requested: number | undefined;

/** Threads the CPU path uses: cpuThreads(n) if called, else FIDLAB_THREADS, else all cores. */
export function cpuThreads(): number {
  const env = Number(process.env.FIDLAB_THREADS);
  return requested ?? (Number.isInteger(env) && env > 0 ? env : os.availableParallelism());
}

/**
 * Sets the number of threads of the CPU path (1 = the calling thread only). Takes effect at the
 * next computation; the arena (and tables cached in it) starts empty again.
 */
export function setCpuThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`CPU threads must be a positive integer, got ${n}`);
  requested = n;
  if (shared && shared.threads !== n) {
    shared.dispose();
    shared = undefined;
  }
}

/** The process's sgemm, created on first use with cpuThreads() threads. */
export function sgemm(): Sgemm {
  shared ??= new Sgemm(cpuThreads());
  return shared;
}
