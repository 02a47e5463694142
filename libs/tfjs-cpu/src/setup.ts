// Loads the wasm backend in Node and registers the kernels it lacks or runs slowly.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { keepOriginal, original } from './wasm-call.js';
import { conv2dBackpropFilter } from './kernels/conv2d-backprop-filter.js';
import { conv2dBackpropInput } from './kernels/conv2d-backprop-input.js';
import { batchMatMul } from './kernels/batch-matmul.js';
import { maxPoolGrad } from './kernels/max-pool-grad.js';
import { concat, mean, splitV, sum, tile } from './kernels/layout.js';
import { tanh } from './kernels/tanh.js';
import {
  LEAKY_RELU_GRAD_KERNEL,
  leakyRelu,
  leakyReluGrad,
  registerLeakyReluGradient,
} from './kernels/leaky-relu.js';
import { conv2d } from './kernels/conv2d.js';
import { fusedConv2d } from './kernels/fused-conv2d.js';
import { ADAM_KERNEL, adam } from './kernels/adam.js';
import {
  BATCH_NORM_TRAIN_GRAD_KERNEL,
  BATCH_NORM_TRAIN_KERNEL,
  batchNormTrain,
  batchNormTrainGrad,
  batchNormTrainGradConfig,
} from './kernels/batch-norm.js';

export const FAST_CPU_BACKEND = 'wasm';

/** Kernels this package registers for wasm: added (missing there) or replacing a slow one. */
export const FAST_KERNELS: ReadonlyArray<{
  name: string;
  replaces: boolean;
  kernelFunc: tf.KernelFunc;
}> = [
  {
    name: 'Conv2DBackpropFilter',
    replaces: false,
    kernelFunc: conv2dBackpropFilter as tf.KernelFunc,
  },
  { name: 'Conv2DBackpropInput', replaces: true, kernelFunc: conv2dBackpropInput as tf.KernelFunc },
  { name: 'BatchMatMul', replaces: true, kernelFunc: batchMatMul as tf.KernelFunc },
  { name: 'MaxPoolGrad', replaces: true, kernelFunc: maxPoolGrad as tf.KernelFunc },
  { name: 'Conv2D', replaces: true, kernelFunc: withOriginal('Conv2D', conv2d) },
  { name: 'FusedConv2D', replaces: true, kernelFunc: withOriginal('FusedConv2D', fusedConv2d) },
  { name: 'Tile', replaces: true, kernelFunc: withOriginal('Tile', tile) },
  { name: 'Sum', replaces: true, kernelFunc: withOriginal('Sum', sum) },
  { name: 'Mean', replaces: true, kernelFunc: withOriginal('Mean', mean) },
  { name: 'Concat', replaces: true, kernelFunc: withOriginal('Concat', concat) },
  { name: 'SplitV', replaces: true, kernelFunc: withOriginal('SplitV', splitV) },
  { name: 'Tanh', replaces: true, kernelFunc: withOriginal('Tanh', tanh) },
  { name: 'LeakyRelu', replaces: true, kernelFunc: withOriginal('LeakyRelu', leakyRelu) },
  { name: LEAKY_RELU_GRAD_KERNEL, replaces: false, kernelFunc: leakyReluGrad as tf.KernelFunc },
  // fidlab's own fused ops (no wasm equivalent): looked up by name by @fidlab/training's Adam
  // and @fidlab/models' BatchNorm, which use tfjs ops where these are not registered.
  { name: ADAM_KERNEL, replaces: false, kernelFunc: adam as tf.KernelFunc },
  { name: BATCH_NORM_TRAIN_KERNEL, replaces: false, kernelFunc: batchNormTrain as tf.KernelFunc },
  {
    name: BATCH_NORM_TRAIN_GRAD_KERNEL,
    replaces: false,
    kernelFunc: batchNormTrainGrad as tf.KernelFunc,
  },
];

/** A kernel that handles the common case itself and hands the rest to wasm's own kernel. */
function withOriginal(
  name: string,
  f: (args: never, original: tf.KernelFunc) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelFunc {
  return (args) => f(args as never, original(name));
}

const MARK = Symbol.for('@fidlab/tfjs-cpu');
let ready: Promise<void> | undefined;

/** Directory of the .wasm binaries shipped with @tensorflow/tfjs-backend-wasm. */
export function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

/**
 * Loads the wasm backend (SIMD build) in Node, registers the missing/faster kernels, and makes
 * wasm the active backend. Idempotent; throws if wasm cannot load.
 */
export function setupFastCpu(): Promise<void> {
  ready ??= init().catch((e: unknown) => {
    ready = undefined;
    throw e;
  });
  return ready.then(async () => {
    if (tf.getBackend() !== FAST_CPU_BACKEND) await tf.setBackend(FAST_CPU_BACKEND);
  });
}

async function init(): Promise<void> {
  // Node's fetch cannot read file paths; the emscripten loader reads a file:// URL's path with fs.
  setWasmPaths(pathToFileURL(wasmDir()).pathname + '/');
  // The backend's own kernels bind to the wasm module in their setup functions, run when the
  // backend first initialises: so initialise first, then replace.
  const ok = await tf.setBackend(FAST_CPU_BACKEND);
  if (!ok || tf.getBackend() !== FAST_CPU_BACKEND) {
    throw new Error(`@fidlab/tfjs-cpu: the wasm backend did not load (from ${wasmDir()})`);
  }
  registerFastKernels();
}

/** Registers FAST_KERNELS for wasm (once per process, whoever loaded this module). */
function registerFastKernels(): void {
  for (const k of FAST_KERNELS) {
    const cur = tf.getKernel(k.name, FAST_CPU_BACKEND) as
      (tf.KernelConfig & { [MARK]?: true }) | undefined;
    if (cur?.[MARK]) continue;
    if (cur) {
      keepOriginal(k.name);
      tf.unregisterKernel(k.name, FAST_CPU_BACKEND);
    }
    const config = { kernelName: k.name, backendName: FAST_CPU_BACKEND, kernelFunc: k.kernelFunc };
    Object.defineProperty(config, MARK, { value: true });
    tf.registerKernel(config);
  }
  // Gradients are registered per kernel name, for every backend; only wasm has the kernel.
  if (!tf.getGradient(batchNormTrainGradConfig.kernelName)) {
    tf.registerGradient(batchNormTrainGradConfig);
  }
  registerLeakyReluGradient();
}
