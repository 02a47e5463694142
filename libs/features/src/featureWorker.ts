// Worker-thread entry of ExtractorPool: one extractor per worker on the single-threaded wasm
// backend, so that a folder's batches use every core. Messages: see workerPool.ts.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { isFidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';
import type { FeatureExtractor } from './extractor.js';
import { createExtractor } from './registry.js';
import type { WorkerReply, WorkerRequest } from './workerPool.js';

const port = parentPort!;
let extractor: FeatureExtractor | undefined;

function fail(e: unknown, id?: number): WorkerReply {
  return {
    type: 'error',
    id,
    message: (e as Error).message ?? String(e),
    code: isFidlabError(e) ? e.code : undefined,
  };
}

port.on('message', (m: WorkerRequest) => {
  void (async () => {
    if (m.type === 'init') {
      try {
        await selectBackend({ backend: 'wasm', log: () => {} });
        extractor = await createExtractor(m.name, { weights: m.weights });
        const { name, dims, inputSize } = extractor;
        port.postMessage({ type: 'ready', name, dims, inputSize } satisfies WorkerReply);
      } catch (e) {
        port.postMessage(fail(e));
      }
      return;
    }
    try {
      const x = tf.tensor4d(m.pixels, m.shape);
      const y = extractor!.extract(x);
      const rows = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      port.postMessage({ type: 'result', id: m.id, rows } satisfies WorkerReply, [
        rows.buffer as ArrayBuffer,
      ]);
    } catch (e) {
      port.postMessage(fail(e, m.id));
    }
  })();
});
