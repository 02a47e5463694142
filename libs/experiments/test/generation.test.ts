import assert from 'node:assert/strict';
import { basename, extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { discoverDataset, itemsOfSplit, synthDataset } from '@fidlab/datasets';
import { selectBackend } from '@fidlab/models';
import { tempDir, tinyCheckpointInProcess } from '@fidlab/testing';
import { generateImages, train } from '@fidlab/training';
import { dataSpec, Evaluator } from '../src/index.js';

// The per-epoch evaluation and `fidlab generate` (generateImages) must produce the same images
// for the same checkpoint: FID during training is only meaningful if it is FID of what the
// command writes. Inputs are 48 px and the model 32 px, so the input resize matters too.

const dir = tempDir({ after }, 'fidlab-generation-');
let root = '';
let checkpoint = '';

before(async () => {
  await selectBackend({ backend: 'wasm' });
  const tiny = await tinyCheckpointInProcess(
    dir,
    { synthDataset, train },
    { identities: 3, perIdentity: 3, testFraction: 0.25 },
  );
  root = tiny.data;
  checkpoint = tiny.checkpoint;
});

const rawPixels = async (path: string) => (await sharp(path).raw().toBuffer()).toString('hex');

test('evaluation and `fidlab generate` give identical images for the same checkpoint', async () => {
  const out = join(dir, 'generated');
  await generateImages({ checkpoint, out });

  const evaluator = new Evaluator(dataSpec.parse({ root, size: 32 }), 'test', 'photo2sketch');
  try {
    await evaluator.evaluate({
      checkpointDir: checkpoint,
      data: dataSpec.parse({ root, size: 32 }),
      split: 'test',
      direction: 'photo2sketch',
      metrics: [],
      samples: 1000, // every image, as sample-NNN.png in the split's file order
    });
  } finally {
    evaluator.dispose();
  }

  const items = itemsOfSplit(await discoverDataset(root), 'test');
  assert.ok(items.length >= 2, `${items.length} test items`);
  const seen = new Set<string>();
  for (const [k, item] of items.entries()) {
    const fromGenerate = await rawPixels(join(out, `${basename(item.a, extname(item.a))}.png`));
    const fromEvaluation = await rawPixels(
      join(checkpoint, 'samples', `sample-${String(k).padStart(3, '0')}.png`),
    );
    assert.equal(fromEvaluation, fromGenerate, `image ${k} (${item.id}) differs`);
    // Beside each generated sample: its input photo and ground-truth sketch (the dashboard's grid).
    const sample = (suffix: string) =>
      join(checkpoint, 'samples', `sample-${String(k).padStart(3, '0')}-${suffix}.png`);
    const rgb = async (path: string) =>
      (await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer()).toString('hex');
    assert.equal(await rgb(sample('input')), await rgb(item.a), `input ${k}`);
    assert.equal(await rgb(sample('truth')), await rgb(item.b!), `ground truth ${k}`);
    seen.add(fromGenerate);
  }
  assert.equal(seen.size, items.length, 'each input gives its own image');

  // The comparison can tell the modes apart: PyTorch eval() mode writes other pixels.
  const evalOut = join(dir, 'generated-eval');
  await generateImages({ checkpoint, out: evalOut, evalMode: true });
  const name = `${basename(items[0].a, extname(items[0].a))}.png`;
  assert.notEqual(await rawPixels(join(evalOut, name)), await rawPixels(join(out, name)));
});
