// Public API of @fidlab/api: everything other packages may import is re-exported here.
export {};
