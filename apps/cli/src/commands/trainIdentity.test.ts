import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { synthDataset } from '@fidlab/datasets';
import { captureIo } from '@fidlab/testing';
import { UsageError } from '../command.js';
import { isIdentityTrial, runTrainIdentity } from './trainIdentity.js';

let tmp = '';
let root = '';
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fidlab-cli-identity-'));
  root = join(tmp, 'synth');
  await synthDataset({
    out: root,
    identities: 4,
    perIdentity: 2,
    size: 40,
    seed: 2,
    splitBy: 'image',
    testFraction: 0.5,
  });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('fidlab train --trial identity: one epoch, rank-k lines, JSON, a checkpoint', async () => {
  assert.ok(isIdentityTrial(['--data', 'x', '--trial', 'identity']));
  assert.ok(isIdentityTrial(['--trial=identity']));
  assert.ok(!isIdentityTrial(['--model', 'unet']));
  const io = captureIo();
  const out = join(tmp, 'run');
  const code = await runTrainIdentity(
    [
      '--trial',
      'identity',
      '--data',
      root,
      '--out',
      out,
      '--epochs',
      '1',
      '--lr',
      '1e-4',
      '--classifier-lr',
      '0.01',
      '--optimizer',
      'adam',
      '--input-size',
      '104',
      '--freeze-through',
      'body',
      '--probe-split',
      'test',
      '--gallery-split',
      'train',
      '--k',
      '1,2',
      '--backend',
      'wasm',
      '--json',
    ],
    io,
  );
  assert.equal(code, 0);
  const line = JSON.parse(io.stdout[0]);
  assert.equal(line.epoch, 1);
  assert.deepEqual(Object.keys(line.rank), ['1', '2']);
  assert.ok(existsSync(join(out, 'checkpoints', 'epoch-0001', 'identity.json')));
  assert.match(io.stderr.join('\n'), /epoch 1: loss .* rank-1 .*rank-2/);
  assert.match(io.stderr.join('\n'), /4 training identities; before training rank-1/);
});

test('fidlab train --trial identity: usage errors', async () => {
  const io = captureIo();
  await assert.rejects(
    runTrainIdentity(['--trial', 'identity', '--data', root, '--out', 'o', '--epochs', '1'], io),
    (e) => e instanceof UsageError && /--lr/.test(e.message),
  );
  await assert.rejects(
    runTrainIdentity(
      ['--trial', 'identity', '--data', root, '--out', 'o', '--epochs', '1', '--lr', '1'],
      io,
    ),
    (e) => e instanceof UsageError && /--probe-dir/.test(e.message),
  );
});
