export * from './errors.js';
export * from './npy.js';
export * from './npz.js';
