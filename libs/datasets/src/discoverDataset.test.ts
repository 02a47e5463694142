import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@fidlab/testing';
import { gradient, writeImage } from '../test/fixtures.js';
import { discoverDataset, itemsOfSplit } from './discoverDataset.js';

const img = (path: string, w = 8, h = 8) => writeImage(path, w, h, 3, gradient);

test('paired folders pair by basename, report unpaired files and ignore non-images', async (t) => {
  const root = tempDir(t);
  for (const n of ['a', 'b']) {
    await img(join(root, 'train/photos', `${n}.png`));
    await img(join(root, 'train/sketches', `${n}.jpg`));
  }
  await img(join(root, 'train/photos/lonely.png'));
  await img(join(root, 'test/photos/c.png'));
  await img(join(root, 'test/sketches/c.png'));
  writeFileSync(join(root, 'train/photos/notes.txt'), 'x');
  const ix = await discoverDataset(root);
  assert.equal(ix.layout, 'paired');
  assert.equal(ix.pairing, 'basename');
  assert.deepEqual(ix.splits, ['test', 'train']);
  assert.deepEqual(
    itemsOfSplit(ix, 'train').map((i) => i.id),
    [join('train', 'photos', 'a.png'), join('train', 'photos', 'b.png')],
  );
  assert.deepEqual(
    ix.problems.map((p) => [p.path.endsWith('lonely.png'), p.reason]),
    [[true, 'photo without a sketch']],
  );
  assert.equal(ix.ignored.length, 1);
  assert.throws(
    () => itemsOfSplit(ix, 'val'),
    /split 'val' .* has no items \(splits: test, train\)/,
  );
});

test('a pair pattern pairs CUFS names; an identity pattern labels them', async (t) => {
  const root = tempDir(t);
  await img(join(root, 'train/photos/f-005-01.jpg'));
  await img(join(root, 'train/sketches/F2-005-01-sz1.jpg'));
  await img(join(root, 'train/photos/m-005-01.jpg'));
  await img(join(root, 'train/sketches/M2-005-01-sz1.jpg'));
  const ix = await discoverDataset(root, {
    pairPattern: String.raw`^([fm])\d?-(\d+-\d+)`,
    identityPattern: String.raw`^([fm])-(\d+)`,
  });
  assert.equal(ix.pairing, 'pattern');
  assert.deepEqual(ix.problems, []);
  assert.deepEqual(
    ix.items.map((i) => [
      i.identity,
      i.b?.endsWith('F2-005-01-sz1.jpg') || i.b?.endsWith('M2-005-01-sz1.jpg'),
    ]),
    [
      ['f/005', true],
      ['m/005', true],
    ],
  );
  assert.ok(ix.items[0].b?.includes('F2-005'));
  // Without the pattern nothing pairs.
  assert.equal((await discoverDataset(root)).problems.length, 5);
});

test('a manifest gives pairs, identities and splits; missing columns are named', async (t) => {
  const root = tempDir(t);
  await img(join(root, 'p/1.png'));
  await img(join(root, 's/x1.png'));
  writeFileSync(
    join(root, 'pairs.csv'),
    'photo,sketch,identity,split\np/1.png,s/x1.png,alice,train\np/2.png,s/x2.png,bob,test\n',
  );
  const ix = await discoverDataset(root);
  assert.equal(ix.pairing, 'manifest');
  assert.deepEqual(
    ix.items.map((i) => [i.identity, i.split]),
    [['alice', 'train']],
  );
  assert.deepEqual(
    ix.problems.map((p) => p.reason),
    ['listed in pairs.csv:3 but missing', 'listed in pairs.csv:3 but missing'],
  );
  writeFileSync(join(root, 'pairs.csv'), 'photo,sketch\np/1.png,s/x1.png\n');
  await assert.rejects(
    discoverDataset(root),
    /pairs\.csv lacks column\(s\) split \(has: photo, sketch/,
  );
});

test('2:1 images in split folders are pix2pix AB pairs; images at the root are a single set', async (t) => {
  const root = tempDir(t);
  await img(join(root, 'ab/train/1.jpg'), 16, 8);
  await img(join(root, 'ab/val/2.jpg'), 16, 8);
  const ab = await discoverDataset(join(root, 'ab'));
  assert.equal(ab.layout, 'aligned');
  assert.deepEqual(ab.splits, ['train', 'val']);
  await img(join(root, 'gen/1.png'));
  await img(join(root, 'gen/2.png'));
  writeFileSync(join(root, 'gen/log.txt'), 'x');
  const single = await discoverDataset(join(root, 'gen'), { identityPattern: '^(\\d)' });
  assert.equal(single.layout, 'single');
  assert.deepEqual(
    single.items.map((i) => [i.split, i.identity, i.b]),
    [
      ['all', '1', null],
      ['all', '2', null],
    ],
  );
  assert.equal(single.ignored.length, 1);
});

test('bad folders, layouts and patterns fail with clear messages', async (t) => {
  const root = tempDir(t);
  await assert.rejects(discoverDataset(join(root, 'missing')), /does not exist/);
  await assert.rejects(discoverDataset(root), /no dataset found/);
  await assert.rejects(
    discoverDataset(root, { layout: 'weird' as 'single' }),
    /unknown layout 'weird' \(layouts: paired, aligned, single\)/,
  );
  await img(join(root, 'train/photos/a.png'));
  await img(join(root, 'train/sketches/a.png'));
  await assert.rejects(
    discoverDataset(root, { pairPattern: '(' }),
    /pair pattern '\(' is not a valid regular expression/,
  );
});

test('an empty split folder is a problem', async (t) => {
  const root = tempDir(t);
  await img(join(root, 'train/photos/a.png'));
  await img(join(root, 'train/sketches/a.png'));
  await img(join(root, 'test/photos/b.png'));
  await img(join(root, 'test/sketches/c.png'));
  const ix = await discoverDataset(root);
  assert.ok(ix.problems.some((p) => p.reason === "split 'test' has no pairs"));
});
