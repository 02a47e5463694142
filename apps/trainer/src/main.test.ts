import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { synthDataset } from '@fidlab/datasets';
import { runTrainer } from './main.js';

const tmp = mkdtempSync(join(tmpdir(), 'fidlab-trainer-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

test('one trial from a JSON file: an epoch line per epoch, then done', async () => {
  const root = join(tmp, 'synth');
  await synthDataset({ out: root, identities: 3, perIdentity: 2, size: 36, seed: 4 });
  const trial = join(tmp, 'trial.json');
  writeFileSync(
    trial,
    JSON.stringify({
      model: 'unet-noskip',
      size: 32,
      ngf: 2,
      ndf: 2,
      epochs: 2,
      batch_size: 4,
      data: { root },
      run_dir: join(tmp, 'run'),
    }),
  );
  const c = capture();
  assert.equal(await runTrainer([trial, '--backend', 'cpu'], c.io), 0, c.err.join('\n'));
  const lines = c.out.map(
    (l) => JSON.parse(l) as { type: string; epoch?: number; status?: string },
  );
  assert.deepEqual(
    lines.map((l) => [l.type, l.epoch]),
    [
      ['epoch', 1],
      ['epoch', 2],
      ['done', 2],
    ],
  );
  assert.equal(lines[2].status, 'completed');
});

test('a bad trial is one error line and exit 1; bad usage exit 2', async () => {
  const trial = join(tmp, 'bad.json');
  writeFileSync(
    trial,
    JSON.stringify({ model: 'unet', size: 31, data: { root: tmp }, run_dir: tmp }),
  );
  const c = capture();
  assert.equal(await runTrainer([trial, '--backend', 'cpu'], c.io), 1);
  const e = JSON.parse(c.out[0]) as { type: string; code: string; message: string };
  assert.equal(e.type, 'error');
  assert.equal(e.code, 'INVALID_CONFIG');
  assert.match(e.message, /power of two, got 31/);
  assert.equal(await runTrainer([], capture().io), 2);
});
