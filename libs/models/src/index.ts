// Public API of @fidlab/models: everything other packages may import is re-exported here.
export {};
