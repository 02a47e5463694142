// Public API of @fidlab/base: what every lib may need without depending on the numerics: the one
// error class and its codes, a seeded rng, atomic writes, file formats and the wasm assembler.
export * from './errors.js';
export * from './rng.js';
export * from './atomicWrite.js';
export * from './npy.js';
export * from './npz.js';
export { ZipReader } from './zip.js';
export * as wasmAsm from './wasmAsm.js';
export * from './artifacts.js';
