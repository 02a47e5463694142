// `fidlab features` and the image-folder forms of fid/kid/stats, on random-weight InceptionV3
// files written here (no download, no torch): each folder form must agree with the feature-file
// form on the features `fidlab features` wrote. Exactness against PyTorch is
// libs/features/test/parity.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { createRng, parseNpy, parseNpz } from '@fidlab/base';
import { inceptionStateDictShapes } from '@fidlab/models';
import { saveSafetensors, type StateDict } from '@fidlab/weights';
import { runCli } from '../main.js';
import { captureIo } from '@fidlab/testing';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-features-'));
const weights = join(dir, 'inception-random.safetensors');
const dirA = join(dir, 'a');
const dirB = join(dir, 'b');
const savedEnv = { ...process.env };

async function run(...argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

/** He-normal convs and BatchNorm near the identity: activations stay O(1) through the net. */
function randomInception(seed: number): StateDict {
  const rng = createRng(seed);
  const sd: StateDict = new Map();
  for (const [key, shape] of Object.entries(inceptionStateDictShapes())) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      // Sum of 4 uniforms: a cheap, roughly normal value with mean 0, variance 1.
      const u = (rng.next() + rng.next() + rng.next() + rng.next() - 2) * Math.sqrt(3);
      if (key.endsWith('running_var')) data[i] = 1 + 0.2 * Math.abs(u);
      else if (key.endsWith('bn.weight')) data[i] = 1 + 0.1 * u;
      else if (key.endsWith('running_mean') || key.endsWith('bias')) data[i] = 0.05 * u;
      else data[i] = u * Math.sqrt(2 / fanIn);
    }
    sd.set(key, { shape, dtype: 'float32', data });
  }
  return sd;
}

async function writeImages(folder: string, sizes: Array<[number, number]>, seed: number) {
  mkdirSync(folder, { recursive: true });
  const rng = createRng(seed);
  for (let i = 0; i < sizes.length; i++) {
    const [w, h] = sizes[i];
    const px = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rng.next() * 256));
    const png = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    writeFileSync(join(folder, `${String(i).padStart(2, '0')}.png`), png);
  }
}

before(async () => {
  process.env.FIDLAB_WEIGHTS = join(dir, 'cache');
  process.env.FIDLAB_BACKEND = 'wasm';
  await saveSafetensors(weights, randomInception(1));
  await writeImages(
    dirA,
    [
      [40, 30],
      [64, 64],
      [33, 51],
      [80, 60],
    ],
    2,
  );
  await writeImages(
    dirB,
    [
      [50, 50],
      [70, 45],
      [64, 64],
    ],
    3,
  );
});
after(() => {
  process.env = savedEnv;
  rmSync(dir, { recursive: true, force: true });
});

const ext = ['--extractor', 'inception:192', '--weights', weights];

test('features: one float32 row per image, sorted file-name order, any image size', async () => {
  const out = join(dir, 'a.npy');
  const r = await run(
    ...['features', dirA, ...ext, '--batch-size', '3', '--workers', '2'],
    '--out',
    out,
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*a\.npy \(4 x 192, inception:192\)/);
  assert.match(r.err, /inception:192 .*a 4\/4/); // progress on stderr
  const f = parseNpy(new Uint8Array(readFileSync(out)));
  assert.deepEqual(f.shape, [4, 192]);
  assert.equal(f.dtype, 'float32');
  // Batching does not change a row: image 3 alone equals image 3 in a batch of 3.
  // ... and in one process instead of worker threads.
  const one = join(dir, 'a1.npy');
  const r1 = await run(
    'features',
    dirA,
    ...ext,
    '--batch-size',
    '1',
    '--workers',
    '1',
    '--out',
    one,
  );
  assert.equal(r1.code, 0, r1.err);
  const g = parseNpy(new Uint8Array(readFileSync(one)));
  for (let i = 0; i < f.data.length; i++) assert.ok(Math.abs(f.data[i] - g.data[i]) < 1e-5);
});

test('fid, kid and stats on folders equal the same commands on the written features', async () => {
  const fa = join(dir, 'fa.npy');
  const fb = join(dir, 'fb.npy');
  assert.equal((await run('features', dirA, ...ext, '--out', fa)).code, 0);
  assert.equal((await run('features', dirB, ...ext, '--out', fb)).code, 0);

  const fromDirs = await run('fid', dirA, dirB, ...ext, '--json');
  assert.equal(fromDirs.code, 0, fromDirs.err);
  const fromFiles = await run('fid', fa, fb, '--json');
  const [x, y] = [JSON.parse(fromDirs.out), JSON.parse(fromFiles.out)];
  assert.deepEqual([x.n1, x.n2, x.dims], [4, 3, 192]);
  assert.ok(x.fid > 0 && Math.abs(x.fid - y.fid) <= 1e-9 * y.fid, `${x.fid} vs ${y.fid}`);

  const kidDirs = await run('kid', dirA, dirB, ...ext, '--json', '--subset-size', '3');
  const kidFiles = await run('kid', fa, fb, '--json', '--subset-size', '3');
  assert.equal(kidDirs.code, 0, kidDirs.err);
  assert.equal(JSON.parse(kidDirs.out).kid, JSON.parse(kidFiles.out).kid);

  const sDir = join(dir, 's-dir.npz');
  const sFile = join(dir, 's-file.npz');
  assert.equal((await run('stats', dirA, ...ext, '--out', sDir)).code, 0);
  assert.equal((await run('stats', fa, '--out', sFile)).code, 0);
  const [m1, m2] = [sDir, sFile].map((p) => parseNpz(new Uint8Array(readFileSync(p))));
  assert.deepEqual(m1.get('sigma')!.shape, [192, 192]);
  assert.deepEqual([...m1.get('mu')!.data], [...m2.get('mu')!.data]);

  // A statistics file on one side, a folder on the other.
  const mixed = await run('fid', dirA, sFile, ...ext, '--json');
  assert.equal(mixed.code, 0, mixed.err);
  assert.ok(Math.abs(JSON.parse(mixed.out).fid) < 1e-6); // the same set on both sides
});

test('folder errors: no --extractor, unknown extractor, wrong weights, empty folder', async () => {
  const noExt = await run('fid', dirA, dirB);
  assert.equal(noExt.code, 2);
  assert.match(noExt.err, /a is a folder: pass --extractor NAME .*inception:2048/);

  const unknown = await run('features', dirA, '--extractor', 'resnet', '--out', join(dir, 'x.npy'));
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown feature extractor 'resnet'; known: inception, .*vggface:fc6/);

  const wrong = await run('stats', dirA, '--extractor', 'vggface:fc6', '--weights', weights);
  assert.equal(wrong.code, 2); // --out missing
  const wrongArch = await run(
    ...['stats', dirA, '--extractor', 'vggface:fc6', '--weights', weights, '--out', 'x.npz'],
  );
  assert.equal(wrongArch.code, 1);
  assert.match(wrongArch.err, /does not hold VGG-Face .*missing \(conv1_1\.weight/);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const r = await run('features', empty, ...ext, '--out', join(dir, 'e.npy'));
  assert.equal(r.code, 1);
  assert.match(r.err, /empty holds no images/);
});

test('folders of BMP / PPM read as their pixels; files that are not images are listed as skipped', async () => {
  // Two of the decoder fixtures (tools/fixtures/make_image_format_fixtures.py), and PNGs of the
  // pixels PIL reads from them: the features must be the same.
  const formats = new URL('../../../../libs/datasets/test-fixtures/formats/', import.meta.url);
  const expected = JSON.parse(readFileSync(new URL('expected.json', formats), 'utf8'));
  const other = join(dir, 'other-formats');
  const png = join(dir, 'same-as-png');
  mkdirSync(other);
  mkdirSync(png);
  for (const [i, name] of ['rgb24.bmp', 'rgb.ppm'].entries()) {
    writeFileSync(join(other, `${i}${name.slice(-4)}`), readFileSync(new URL(name, formats)));
    const { width, height, rgb } = expected[name];
    await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
      .png()
      .toFile(join(png, `${i}.png`));
  }
  writeFileSync(join(other, 'notes.txt'), 'not an image');
  writeFileSync(join(other, 'meta.json'), '{}');
  const fo = join(dir, 'other.npy');
  const fp = join(dir, 'png.npy');
  const r = await run('features', other, ...ext, '--out', fo);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /^skipped 2 files in .*other-formats that are not images: meta\.json, notes\.txt$/m,
  );
  assert.match(r.out, /\(2 x 192, inception:192\)/);
  const rp = await run('features', png, ...ext, '--out', fp);
  assert.equal(rp.code, 0, rp.err);
  assert.doesNotMatch(rp.err, /skipped/);
  assert.deepEqual(
    parseNpy(new Uint8Array(readFileSync(fo))).data,
    parseNpy(new Uint8Array(readFileSync(fp))).data,
  );
});
