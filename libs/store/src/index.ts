// Public API of @fidlab/store: everything other packages may import is re-exported here.
export {};
