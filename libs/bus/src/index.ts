// Public API of @fidlab/bus: the NATS JetStream adapter (dispatcher, worker loop, registry).
export * from './wire.js';
export * from './flags.js';
export * from './connection.js';
export * from './topology.js';
export * from './dispatcher.js';
export * from './worker.js';
export * from './registry.js';
export * from './retryingRecorder.js';
export * from './deadLetters.js';
export * from './fakeJobs.js';
export type { NatsConnection } from '@nats-io/transport-node';
export * from './lostJobs.js';
export * from './sweeps.js';
