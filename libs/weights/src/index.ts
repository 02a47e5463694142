// Public API of @fidlab/weights: everything other packages may import is re-exported here.
export {};
