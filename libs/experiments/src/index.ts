// Public API of @fidlab/experiments: everything other packages may import is re-exported here.
export {};
