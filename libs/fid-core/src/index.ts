export * from './errors.js';
export * from './npy.js';
export * from './npz.js';
export * from './kid.js';
export * from './rankK.js';
export * from './correlation.js';
