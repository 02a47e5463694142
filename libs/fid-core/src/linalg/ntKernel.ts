import type { WasmTile } from './wasmKernel.js';

/**
 * The GEMM micro-kernel as JavaScript source text, so that the very same code runs on the main
 * thread (compiled once with `new Function`) and in worker threads (evaluated with
 * `new Worker(src, { eval: true })`, which works both from TypeScript sources under tsx and from
 * the compiled dist). Identical code on every thread makes threaded and single-threaded results
 * bitwise equal: each output tile is always computed by one thread with one summation order.
 *
 * ntTile(a, b, c, k, n, i0, i1, j0, j1, ps) adds to c[i * n + j] (i in [i0, i1), j in [j0, j1))
 * the dot product of row i of a and row j of b over p in [ps, k), both row-major with row length k:
 *   C = A B^T restricted to one tile. ps > 0 skips a known zero prefix (triangular operands).
 * Loop order (a blocked GEMM in the Goto/BLIS style, without packing since rows are already
 * contiguous): k is cut into blocks of KC = 256 so that 4 rows of A (8 KiB) stay in L1 while the
 * tile's B rows (<= 64 x 2 KiB) stream from L2, and within a k block 4 x 4 register blocks of C
 * accumulate over contiguous row segments. Partial sums are added into C once per k block.
 * Edges (rows or columns not a multiple of 4) fall back to one dot product per element.
 */
export const NT_KERNEL_SOURCE = String.raw`
var KC = 256;
function ntTile(a, b, c, k, n, i0, i1, j0, j1, ps) {
  var i4 = i0 + ((i1 - i0) & ~3);
  var j4 = j0 + ((j1 - j0) & ~3);
  for (var p0 = ps; p0 < k; p0 += KC) {
    var p1 = p0 + KC < k ? p0 + KC : k;
    for (var i = i0; i < i4; i += 4) {
      var a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
      for (var j = j0; j < j4; j += 4) {
        var b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
        var c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        var c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (var p = p0; p < p1; p++) {
          var x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
          var y0 = b[b0 + p], y1 = b[b1 + p], y2 = b[b2 + p], y3 = b[b3 + p];
          c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
          c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
          c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
          c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
        }
        var o = i * n + j;
        c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; o += n;
        c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; o += n;
        c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; o += n;
        c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33;
      }
      for (var j = j4; j < j1; j++) {
        for (var r = 0; r < 4; r++) c[(i + r) * n + j] += ntDot(a, (i + r) * k, b, j * k, p0, p1);
      }
    }
    for (var i = i4; i < i1; i++) {
      for (var j = j0; j < j1; j++) c[i * n + j] += ntDot(a, i * k, b, j * k, p0, p1);
    }
  }
}
function ntDot(x, xo, y, yo, p0, p1) {
  var s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  var p = p0;
  for (; p + 4 <= p1; p += 4) {
    s0 += x[xo + p] * y[yo + p];
    s1 += x[xo + p + 1] * y[yo + p + 1];
    s2 += x[xo + p + 2] * y[yo + p + 2];
    s3 += x[xo + p + 3] * y[yo + p + 3];
  }
  for (; p < p1; p++) s0 += x[xo + p] * y[yo + p];
  return s0 + s1 + (s2 + s3);
}
/*
 * Runs tiles of one job until none is left: tiles[5 t .. 5 t + 5) = (i0, i1, j0, j1, ps); ctrl[0] is
 * the next unclaimed tile, ctrl[1] the number finished (notified on every change), done[t] = 1
 * once tile t is written. Any thread may call it; claims are atomic.
 */
function ntRun(a, b, c, k, n, tiles, ctrl, done) {
  var count = (tiles.length / 5) | 0;
  for (;;) {
    var t = Atomics.add(ctrl, 0, 1);
    if (t >= count) return;
    var q = 5 * t;
    ntTile(a, b, c, k, n, tiles[q], tiles[q + 1], tiles[q + 2], tiles[q + 3], tiles[q + 4]);
    Atomics.store(done, t, 1);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
}
/* The same loop for the WebAssembly kernel (wasmKernel.ts): a, b, c are byte offsets. */
function ntRunWasm(tile, a, b, c, k, n, tiles, ctrl, done) {
  var count = (tiles.length / 5) | 0;
  for (;;) {
    var t = Atomics.add(ctrl, 0, 1);
    if (t >= count) return;
    var q = 5 * t;
    tile(a, b, c, k, n, tiles[q], tiles[q + 1], tiles[q + 2], tiles[q + 3], tiles[q + 4]);
    Atomics.store(done, t, 1);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
}
`;

/**
 * Worker body: runs every job posted to it; on an error flags ctrl[2] so the caller finishes.
 * workerData { module, memory } (optional): the WebAssembly kernel, instantiated once on the
 * shared memory that wasm jobs address by offset.
 */
export const NT_WORKER_SOURCE =
  NT_KERNEL_SOURCE +
  String.raw`
var wt = require('node:worker_threads');
var parentPort = wt.parentPort;
var wasmTile = null;
var wasmSymv = null;
if (wt.workerData && wt.workerData.memory) {
  try {
    var inst = new WebAssembly.Instance(wt.workerData.module, { env: { mem: wt.workerData.memory } });
    wasmTile = inst.exports.tile;
    wasmSymv = inst.exports.symv;
  } catch (err) {
    wasmTile = null;
  }
}
/*
 * A symv session (threads.ts, symvSession): until told to stop, wait for ctl[0] to change, run
 * wasm symv(ctl[2..9)) and publish the generation done in ctl[1]. ctl[2] < 0 stops it.
 */
function symvSession(ctl) {
  var gen = 0; // the session starts at generation 0 (the caller may already have bumped it)
  for (;;) {
    Atomics.wait(ctl, 0, gen);
    gen = Atomics.load(ctl, 0);
    // Read the stop flag before acknowledging: right after the ack the caller may write the
    // next call's parameters.
    var stop = ctl[2] < 0;
    if (!stop) wasmSymv(ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7], ctl[8]);
    Atomics.store(ctl, 1, gen);
    Atomics.notify(ctl, 1);
    if (stop) return;
  }
}
parentPort.on('message', function (job) {
  try {
    if (job.symvSession) {
      symvSession(job.ctl);
    } else if (job.wasm) {
      if (!wasmTile) throw new Error('no wasm kernel in this worker');
      ntRunWasm(wasmTile, job.a, job.b, job.c, job.k, job.n, job.tiles, job.ctrl, job.done);
    } else {
      ntRun(job.a, job.b, job.c, job.k, job.n, job.tiles, job.ctrl, job.done);
    }
  } catch (err) {
    if (process.env.FIDLAB_DEBUG_WORKERS) console.error('fidlab worker:', err);
    var ctrl = job.symvSession ? job.ctl : job.ctrl;
    // A session reports failure as generation -1; a tile job through ctrl[2].
    if (job.symvSession) Atomics.store(ctrl, 1, -1);
    else Atomics.store(ctrl, 2, 1);
    Atomics.notify(ctrl, 1);
  }
});
`;

type F64 = Float64Array;
type I32 = Int32Array;

export interface NtKernels {
  ntTile(
    a: F64,
    b: F64,
    c: F64,
    k: number,
    n: number,
    i0: number,
    i1: number,
    j0: number,
    j1: number,
    ps: number,
  ): void;
  ntRun(a: F64, b: F64, c: F64, k: number, n: number, tiles: I32, ctrl: I32, done: I32): void;
  ntRunWasm(
    tile: WasmTile,
    a: number,
    b: number,
    c: number,
    k: number,
    n: number,
    tiles: I32,
    ctrl: I32,
    done: I32,
  ): void;
}

/** The kernels compiled on this thread from the same source the workers run. */
export const ntKernels: NtKernels = new Function(
  `${NT_KERNEL_SOURCE}\nreturn { ntTile: ntTile, ntRun: ntRun, ntRunWasm: ntRunWasm };`,
)() as NtKernels;
