// Public API of @fidlab/tfjs-cpu: a fast CPU path for tfjs training and inference (the wasm
// backend plus the kernels it lacks or runs slowly: convolutions on fidlab's threaded f32x4 GEMM,
// fused Adam / BatchNorm / activations).
export { setupFastCpu, FAST_CPU_BACKEND, FAST_KERNELS, wasmDir } from './setup.js';
export { ADAM_KERNEL, type AdamAttrs } from './kernels/adam.js';
export { BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_TRAIN_GRAD_KERNEL } from './kernels/batch-norm.js';
export { cpuThreads, setCpuThreads } from './sgemm/threads.js';
