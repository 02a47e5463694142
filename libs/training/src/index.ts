// Public API of @fidlab/training: everything other packages may import is re-exported here.
export {};
