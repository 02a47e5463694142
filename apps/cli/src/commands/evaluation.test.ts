// The per-epoch evaluation of `fidlab run` must report the FID that `fidlab fid GEN REAL
// --extractor X` gives on the folder `fidlab generate` writes for the same checkpoint and the
// split's sketch folder. The dataset is 48 px and the model 32 px, so the ground truth's resize
// matters: it must be the folder path's single resize (the extractor's), not a resize to the
// model size first.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dataSpec, Evaluator, metricSpec, type MetricValue } from '@fidlab/experiments';
import { selectBackend } from '@fidlab/models';
import { captureIo, tempDir, tinyCheckpoint } from '@fidlab/testing';
import { runCli } from '../main.js';

// A 32 px unet trained one epoch on 4 identities x 2 synthetic 48 px pairs (half of them test).
const dir = tempDir({ after }, 'fidlab-cli-evaluation-');
const { data: root, checkpoint } = tinyCheckpoint(dir);

before(async () => {
  await selectBackend({ backend: 'wasm' });
});

async function run(...argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io);
  assert.equal(code, 0, `fidlab ${argv.join(' ')}: ${io.stderr.join('\n')}`);
  return io.stdout.join('\n');
}

test('per-epoch FID equals fidlab fid on fidlab generate output and the sketch folder', async () => {
  // facerec resizes inside the network (no input size); the generator tap has one (32 px), so
  // the folder path resizes each image to it before the network: both branches are covered.
  const extractors = ['facerec', `generator:${checkpoint}:en3`];
  const data = dataSpec.parse({ root, size: 32 });
  const evaluator = new Evaluator(data, 'test', 'photo2sketch');
  let values: MetricValue[];
  try {
    values = await evaluator.evaluate({
      checkpointDir: checkpoint,
      data,
      split: 'test',
      direction: 'photo2sketch',
      metrics: extractors.map((extractor, i) => ({
        spec: metricSpec.parse({ name: `fid_${i}`, kind: 'fid', extractor }),
        extractor,
      })),
      samples: 0,
    });
  } finally {
    evaluator.dispose();
  }

  const gen = join(dir, 'generated');
  await run('generate', '--checkpoint', checkpoint, '--out', gen, '--backend', 'wasm');
  const real = join(root, 'test', 'sketches');
  for (const [i, extractor] of extractors.entries()) {
    const cli = JSON.parse(
      await run('fid', gen, real, '--extractor', extractor, '--backend', 'wasm', '--json'),
    ) as { fid: number; n1: number; n2: number };
    const v = values.find((m) => m.name === `fid_${i}`)!;
    assert.equal(cli.n1, 4);
    assert.equal(v.n1, cli.n1);
    assert.equal(v.n2, cli.n2);
    assert.ok(cli.fid > 0, `${extractor}: FID ${cli.fid}`);
    // Same 8-bit pixels, same order, batches and arithmetic: the same float64 result.
    assert.equal(v.value, cli.fid, `${extractor}: evaluation ${v.value} vs fidlab fid ${cli.fid}`);
  }
});
