// Calling the wasm backend's own kernels from inside a kernel: each kernel composed here runs
// other wasm kernels (Transpose, BatchMatMul, Conv2D, ...) and must free what it allocated.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Attrs = Record<string, unknown>;
type KernelFn = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: Attrs;
}) => tf.TensorInfo | tf.TensorInfo[];

/** The wasm kernels as registered before this package replaced any of them. */
const originals = new Map<string, KernelFn>();

/** Remembers the wasm backend's own implementation of `name` (call before replacing it). */
export function keepOriginal(name: string): void {
  if (originals.has(name)) return;
  const k = tf.getKernel(name, 'wasm');
  if (k) originals.set(name, k.kernelFunc as unknown as KernelFn);
}

/** wasm's own kernel `name` (the one this package replaced, if it did). */
export function original(name: string): tf.KernelFunc {
  const fn = originals.get(name) ?? (tf.getKernel(name, 'wasm')?.kernelFunc as unknown as KernelFn);
  if (!fn) throw new Error(`wasm kernel ${name} is not registered`);
  return fn as unknown as tf.KernelFunc;
}

/**
 * Runs wasm kernels and frees every intermediate they produce when `done` is called, except
 * the tensors passed to `keep`. Tensors handed in from outside are never freed.
 */
export class WasmScope {
  private readonly made: tf.TensorInfo[] = [];
  constructor(readonly backend: BackendWasm) {}

  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: Attrs = {}): tf.TensorInfo {
    const fn =
      originals.get(name) ?? (tf.getKernel(name, 'wasm')?.kernelFunc as unknown as KernelFn);
    if (!fn) throw new Error(`wasm kernel ${name} is not registered`);
    const out = fn({ inputs, backend: this.backend, attrs }) as tf.TensorInfo;
    this.made.push(out);
    return out;
  }

  /** A new float32 tensor in the wasm heap; its contents are undefined until written. */
  alloc(shape: number[]): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.made.push(out);
    return out;
  }

  /** Same data, another shape; no copy (the wasm heap is row-major). */
  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Float32 view of a tensor in the wasm heap. Valid until the next allocation. */
  view(x: tf.TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(x) as Float32Array;
  }

  /** Frees every intermediate except `keep` and returns it. */
  done(keep: tf.TensorInfo): tf.TensorInfo {
    return this.doneAll([keep])[0];
  }

  /** Frees every intermediate except the outputs in `keep` and returns them. */
  doneAll(keep: tf.TensorInfo[]): tf.TensorInfo[] {
    // By identity: a reshape shares its source's data and holds its own reference to it.
    for (const t of this.made) if (!keep.includes(t)) this.backend.disposeData(t.dataId);
    this.made.length = 0;
    return keep;
  }
}
