// Public API of @fidlab/artifacts-nats: nats-obj:// artifact URIs over a JetStream Object Store.
export * from './natsObjectBackend.js';
