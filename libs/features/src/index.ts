// Public API of @fidlab/features: everything other packages may import is re-exported here.
export {};
