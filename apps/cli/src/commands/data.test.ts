import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../main.js';
import { captureIo } from '@fidlab/testing';

function temp(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-data-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('data synth writes a dataset that data check accepts', async (t) => {
  const out = join(temp(t), 'faces');
  const io = captureIo();
  const argv = ['data', 'synth', '--out', out, '--identities', '4', '--per-identity', '2'];
  assert.equal(await runCli([...argv, '--size', '32', '--seed', '3'], io), 0);
  assert.match(io.stdout[0], /^wrote 8 pairs \(train 6, test 2\) to .*faces in [\d.]+ s$/);
  const check = captureIo();
  assert.equal(await runCli(['data', 'check', out], check), 0);
  const text = check.stdout.join('\n');
  assert.match(text, /layout paired \(paired by manifest\)/);
  assert.match(text, /train\s+6\s+3/);
  assert.equal(check.stdout.at(-1), 'ok');
});

test('data check exits 1 listing every problem, and warns once about non-image files', async (t) => {
  const root = temp(t);
  const out = join(root, 'faces');
  await runCli(
    ['data', 'synth', '--out', out, '--identities', '2', '--per-identity', '1', '--size', '32'],
    captureIo(),
  );
  const victim = readdirSync(join(out, 'train', 'photos'))[0];
  writeFileSync(join(out, 'train', 'photos', victim), 'not a png');
  writeFileSync(join(out, 'notes.txt'), 'hi');
  rmSync(join(out, 'pairs.csv'));
  writeFileSync(join(out, 'train', 'sketches', 'extra.txt'), 'x');
  const io = captureIo();
  assert.equal(await runCli(['data', 'check', out], io), 1);
  assert.match(io.stderr[0], /^warning: ignored 1 non-image file/);
  assert.equal(io.stderr[1], '1 problem(s):');
  assert.match(io.stderr[2], new RegExp(`${victim}: is not a readable image`));
});

test('data rejects bad usage with exit 2', async () => {
  for (const argv of [
    ['data'],
    ['data', 'frob'],
    ['data', 'synth'],
    ['data', 'synth', '--out', 'x', '--split-by', 'face'],
    ['data', 'check'],
    ['data', 'check', 'x', '--layout', 'grid'],
  ]) {
    const io = captureIo();
    assert.equal(await runCli(argv, io), 2, argv.join(' '));
    assert.match(io.stderr[0], /^fidlab data: .* \(see fidlab data --help\)$/);
  }
});
