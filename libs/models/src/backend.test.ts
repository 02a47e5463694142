import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { selectBackend } from './index.js';

test('selectBackend: explicit cpu, logged once; unknown names list the valid ones', async () => {
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  assert.equal(await selectBackend({ backend: 'cpu', log }), 'cpu');
  assert.equal(await selectBackend({ backend: 'cpu', log }), 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(lines.length, 1);
  assert.match(lines[0], /tfjs backend 'cpu'/);
  await assert.rejects(
    selectBackend({ backend: 'tpu', log }),
    (e: unknown) =>
      e instanceof FidlabError &&
      e.code === ErrorCode.INVALID_CONFIG &&
      /unknown backend 'tpu' \(backends: auto, gpu, node, wasm, cpu\)/.test(e.message),
  );
});

test('selectBackend: auto skips missing optional packages with a reason and still starts', async () => {
  const lines: string[] = [];
  const backend = await selectBackend({ backend: 'auto', log: (l) => lines.push(l) });
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(backend), backend);
  assert.equal(lines.length, 1);
  if (backend !== 'tensorflow') assert.match(lines[0], /skipped: gpu: /);
  await tf.setBackend('cpu');
});

test('selectBackend: an explicit backend that cannot load is an error, not a fallback', async () => {
  let gpu = true;
  try {
    await import('@tensorflow/tfjs-node-gpu' as string);
  } catch {
    gpu = false;
  }
  if (gpu) return; // a GPU machine with tfjs-node-gpu installed: nothing to check here
  await assert.rejects(
    selectBackend({ backend: 'gpu', log: () => undefined }),
    (e: unknown) => e instanceof FidlabError && /backend 'gpu' is not available/.test(e.message),
  );
  assert.equal(tf.getBackend(), 'cpu');
});
