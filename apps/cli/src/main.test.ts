import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './main.js';

test('runs', async () => {
  assert.equal(await runCli([]), 0);
});
