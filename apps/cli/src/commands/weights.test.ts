import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../main.js';
import { captureIo } from '@fidlab/testing';

const FIXTURES = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../../libs/weights/test-fixtures/torch',
);

test('weights inspect lists format, tensors, dtypes and shapes', async () => {
  const io = captureIo();
  assert.equal(await runCli(['weights', 'inspect', join(FIXTURES, 'sd_zip.pth')], io), 0);
  assert.match(io.stdout[0], /sd_zip\.pth: torch-zip, 23 tensors, 245 values$/);
  assert.ok(io.stdout.some((l) => /^ {2}bn\.num_batches_tracked +int64 +\[\]$/.test(l)));
  assert.ok(io.stdout.some((l) => /^ {2}fc\.weight_t +float32 +\[5, 6\]$/.test(l)));
  const json = captureIo();
  await runCli(['weights', 'inspect', join(FIXTURES, 'sd.safetensors'), '--json'], json);
  const r = JSON.parse(json.stdout[0]);
  assert.equal(r.format, 'safetensors');
  assert.deepEqual(r.entries[0], { name: 'conv.weight', dtype: 'float32', shape: [4, 3, 3, 3] });
});

test('weights convert writes a .safetensors with the same tensors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-weights-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'w.safetensors');
  const io = captureIo();
  const argv = ['weights', 'convert', join(FIXTURES, 'sd_legacy.pth'), '--out', out];
  assert.equal(await runCli(argv, io), 0);
  assert.equal(io.stdout[0], `wrote 23 tensors to ${out}`);
  const a = captureIo();
  const b = captureIo();
  await runCli(['weights', 'inspect', join(FIXTURES, 'sd_legacy.pth')], a);
  await runCli(['weights', 'inspect', out], b);
  assert.deepEqual(b.stdout.slice(1), a.stdout.slice(1)); // names, dtypes, shapes
  assert.match(b.stdout[0], /safetensors, 23 tensors, 245 values$/);
});

test('weights path without a cached file exits 1 with the fetch command, URL and path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-weights-'));
  const saved = process.env.FIDLAB_WEIGHTS;
  process.env.FIDLAB_WEIGHTS = dir;
  t.after(() => {
    if (saved === undefined) delete process.env.FIDLAB_WEIGHTS;
    else process.env.FIDLAB_WEIGHTS = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const io = captureIo();
  assert.equal(await runCli(['weights', 'path', 'inception'], io), 1);
  assert.equal(io.stderr.length, 1);
  assert.match(io.stderr[0], /^fidlab weights: error: inception weights not found at /);
  assert.ok(io.stderr[0].includes(join(dir, 'pt_inception-2015-12-05-6726825d.pth')));
  assert.ok(io.stderr[0].includes("run 'fidlab weights fetch inception'"));
  assert.ok(io.stderr[0].includes('https://github.com/mseitzer/pytorch-fid/releases/download/'));
});

test('weights: bad usage exits 2', async () => {
  for (const argv of [['weights'], ['weights', 'fetch'], ['weights', 'fetch', 'resnet']]) {
    const io = captureIo();
    assert.equal(await runCli(argv, io), 2, argv.join(' '));
    assert.match(io.stderr[0], /^fidlab weights: .*\(see fidlab weights --help\)$/);
  }
});
