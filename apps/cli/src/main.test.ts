import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './main.js';
import { captureIo } from '@fidlab/testing';

test('no command prints usage and exits 2', async () => {
  const io = captureIo();
  assert.equal(await runCli([], io), 2);
  assert.match(io.stdout.join('\n'), /usage: fidlab <command>/);
});

test('unknown command names itself', async () => {
  const io = captureIo();
  assert.equal(await runCli(['frobnicate'], io), 2);
  assert.match(io.stderr[0], /unknown command 'frobnicate'/);
});
