// Runs the same computation on the pure-JS cpu backend and on the fast wasm path.
import * as tf from '@tensorflow/tfjs';
import { setupFastCpu, FAST_CPU_BACKEND } from '../src/index.js';

/** f run under `backend`; returns its outputs as arrays with shapes. */
export async function runOn(
  backend: string,
  f: () => tf.Tensor[],
): Promise<{ shape: number[]; data: Float32Array }[]> {
  if (backend === FAST_CPU_BACKEND) await setupFastCpu();
  else await tf.setBackend(backend);
  // Buffers the backend holds: a kernel that forgets an intermediate leaks one of these
  // without leaking a tensor.
  const buffers = () => tf.backend().numDataIds();
  const before = [tf.memory().numTensors, buffers()];
  const outs = tf.tidy(f);
  const r = outs.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
  tf.dispose(outs);
  if (tf.memory().numTensors !== before[0]) throw new Error(`${backend}: tensors leaked`);
  if (buffers() !== before[1])
    throw new Error(`${backend}: ${buffers() - before[1]} buffers leaked`);
  return r;
}

/** Outputs of f on cpu and on wasm, paired. */
export async function both(f: () => tf.Tensor[]) {
  const ref = await runOn('cpu', f);
  const fast = await runOn(FAST_CPU_BACKEND, f);
  return ref.map((r, i) => ({ ref: r, fast: fast[i] }));
}
