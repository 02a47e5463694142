// Public API of @fidlab/tfjs-cpu: everything other packages may import is re-exported here.
export {};
