// Memory-bound layout kernels for wasm, done in JS straight in the wasm heap. wasm's own
// versions are slow on the shapes BatchNorm gradients and U-Net skips produce: Tile builds
// [n, h, w, c] from [1, 1, 1, c] element by element, Sum/Mean over [0, 1, 2] transpose the whole
// tensor first, Concat on the channel axis makes a subarray per pixel.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs };
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** The whole wasm heap as floats, and a tensor's offset in it (in floats). */
function heapOf(s: WasmScope, t: tf.TensorInfo): { heap: Float32Array; at: number } {
  const v = s.view(t);
  return { heap: new Float32Array(v.buffer), at: v.byteOffset / 4 };
}

/** Copies heap[src, src+len) to dst `times` times back to back, doubling the copied run. */
function repeat(heap: Float32Array, src: number, len: number, dst: number, times: number): void {
  if (dst !== src) heap.copyWithin(dst, src, src + len);
  let done = 1;
  while (done < times) {
    const n = Math.min(done, times - done);
    heap.copyWithin(dst + done * len, dst, dst + n * len);
    done += n;
  }
}

/**
 * Copies `rows` runs of `len` floats, run r from src + r * srcStride to dst + r * dstStride
 * (concat writes strided runs, split reads them); short runs element by element.
 */
function copyStrided(
  heap: Float32Array,
  src: number,
  srcStride: number,
  dst: number,
  dstStride: number,
  rows: number,
  len: number,
): void {
  for (let r = 0; r < rows; r++, src += srcStride, dst += dstStride) {
    if (len >= 64) heap.copyWithin(dst, src, src + len);
    else for (let j = 0; j < len; j++) heap[dst + j] = heap[src + j];
  }
}

export function tile(args: Args, original: tf.KernelFunc): tf.TensorInfo {
  const { x } = args.inputs as Record<'x', tf.TensorInfo>;
  if (x.dtype !== 'float32') return original(args as never) as tf.TensorInfo;
  const reps = (args.attrs as { reps: number[] }).reps;
  const s = new WasmScope(args.backend as BackendWasm);
  const r = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = s.alloc(outShape);
  const src = heapOf(s, x);
  const { heap, at } = heapOf(s, out);
  // Place each input row (last axis, tiled along it) at its spot in the output, then tile the
  // axes from the innermost out: a block already complete is repeated along its axis.
  const last = x.shape[r - 1] ?? 1;
  const rows = size(x.shape) / Math.max(last, 1);
  const outRowLen = last * (reps[r - 1] ?? 1);
  // Row i of the input lands at output row index computed from its multi-index.
  const inDims = x.shape.slice(0, -1);
  const outDims = outShape.slice(0, -1);
  const outStrides = outDims.map((_, k) => size(outDims.slice(k + 1)) * outRowLen);
  for (let i = 0; i < rows; i++) {
    let rem = i;
    let dst = at;
    for (let k = inDims.length - 1; k >= 0; k--) {
      const idx = rem % inDims[k];
      rem = (rem - idx) / inDims[k];
      dst += idx * outStrides[k];
    }
    heap.set(src.heap.subarray(src.at + i * last, src.at + (i + 1) * last), dst);
    repeat(heap, dst, last, dst, reps[r - 1] ?? 1);
  }
  // Axis k (from r-2 down to 0): every block of shape x.shape[k] x out[k+1:] at each outer
  // index is complete; repeat it reps[k] times.
  for (let k = r - 2; k >= 0; k--) {
    if (reps[k] === 1) continue;
    const block = x.shape[k] * outStrides[k];
    const outer = size(x.shape.slice(0, k));
    for (let o = 0; o < outer; o++) {
      let off = at;
      let rem = o;
      for (let j = k - 1; j >= 0; j--) {
        const idx = rem % x.shape[j];
        rem = (rem - idx) / x.shape[j];
        off += idx * outStrides[j];
      }
      repeat(heap, off, block, off, reps[k]);
    }
  }
  return s.done(out);
}

/** Sum or Mean over a leading run of axes [0..k): out[j] = sum_i x[i, j] in float64. */
function reduceLeading(args: Args, original: tf.KernelFunc, mean: boolean): tf.TensorInfo {
  const { x } = args.inputs as Record<'x', tf.TensorInfo>;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const r = x.shape.length;
  const axes = tf.util
    .parseAxisParam(axis, x.shape)
    .slice()
    .sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < r && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return original(args as never) as tf.TensorInfo;
  const k = axes.length;
  const outer = size(x.shape.slice(0, k));
  const inner = size(x.shape.slice(k));
  const outShape = keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k);
  const s = new WasmScope(args.backend as BackendWasm);
  const out = s.alloc(outShape);
  const acc = new Float64Array(inner);
  const v = s.view(x);
  for (let o = 0, p = 0; o < outer; o++) for (let j = 0; j < inner; j++) acc[j] += v[p++];
  const dst = s.view(out);
  const scale = mean ? 1 / outer : 1;
  for (let j = 0; j < inner; j++) dst[j] = acc[j] * scale;
  return s.done(out);
}

export const sum = (a: Args, o: tf.KernelFunc) => reduceLeading(a, o, false);
export const mean = (a: Args, o: tf.KernelFunc) => reduceLeading(a, o, true);

export function concat(args: Args, original: tf.KernelFunc): tf.TensorInfo {
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  const xs = inputs.filter((t) => size(t.shape) > 0);
  if (xs.length < 2 || xs.some((t) => t.dtype !== 'float32')) {
    return original(args as never) as tf.TensorInfo;
  }
  const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, xs[0].shape)[0];
  const outShape = tf.backend_util.computeOutShape(
    xs.map((t) => t.shape),
    axis,
  );
  const s = new WasmScope(args.backend as BackendWasm);
  const out = s.alloc(outShape);
  const rows = size(xs[0].shape.slice(0, axis));
  const inner = xs.map((t) => size(t.shape.slice(axis)));
  const total = inner.reduce((a, b) => a + b, 0);
  const { heap, at } = heapOf(s, out);
  const starts = xs.map((t) => heapOf(s, t).at);
  let col = 0;
  for (let i = 0; i < xs.length; i++) {
    const len = inner[i];
    copyStrided(heap, starts[i], len, at + col, total, rows, len);
    col += len;
  }
  return s.done(out);
}

/** SplitV (the gradient of Concat: U-Net skips): each output's runs copied out of every row. */
export function splitV(args: Args, original: tf.KernelFunc): tf.TensorInfo[] {
  const { x } = args.inputs as Record<'x', tf.TensorInfo>;
  if (x.dtype !== 'float32') return original(args as never) as tf.TensorInfo[];
  const { numOrSizeSplits, axis } = args.attrs as {
    numOrSizeSplits: number | number[];
    axis: number;
  };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  const s = new WasmScope(args.backend as BackendWasm);
  const outs = sizes.map((d) => s.alloc(x.shape.map((v, i) => (i === ax ? d : v))));
  const rows = size(x.shape.slice(0, ax));
  const inner = size(x.shape.slice(ax + 1));
  const total = x.shape[ax] * inner;
  const src = heapOf(s, x);
  const heap = src.heap;
  let col = 0;
  outs.forEach((out, i) => {
    const len = sizes[i] * inner;
    copyStrided(heap, src.at + col, total, heapOf(s, out).at, len, rows, len);
    col += len;
  });
  return s.doneAll(outs);
}
