import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOutOfMemory, outOfMemoryHint } from './outOfMemory.js';

test('out-of-memory errors of each backend are recognised; others are not', () => {
  const oom = [
    'OOM when allocating tensor with shape[1,512,256,256] and type float on /job:localhost/device:GPU:0',
    'ResourceExhaustedError: failed to allocate memory',
    'RangeError: Array buffer allocation failed',
    'RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded',
    'Cannot enlarge memory arrays to size 4294967296 bytes',
  ];
  for (const m of oom) assert.equal(isOutOfMemory(new Error(m)), true, m);
  assert.equal(isOutOfMemory(new Error('Tensor is disposed.')), false);
  assert.equal(isOutOfMemory(new Error('room for improvement')), false);
  assert.equal(outOfMemoryHint(8), 'try --batch-size 4');
  assert.match(outOfMemoryHint(1), /smaller --size or --ngf/);
});
