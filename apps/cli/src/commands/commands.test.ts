import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeNpy, encodeNpz, parseNpz } from '@fidlab/base';
import { featureStats, frechetDistance, type Matrix } from '@fidlab/fid-core';
import { runCli } from '../main.js';
import { captureIo } from '@fidlab/testing';

interface FidFixture {
  x: number[][];
  y: number[][];
  fid_lowrank: number;
}

const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-'));
const fixture = JSON.parse(
  readFileSync(
    new URL('../../../../libs/fid-core/test-fixtures/fid/n_lt_d.json', import.meta.url),
    'utf8',
  ),
) as FidFixture;

function writeMatrix(
  name: string,
  rows: number[][],
  dtype: 'float32' | 'float64' = 'float64',
): string {
  const p = join(dir, name);
  writeFileSync(
    p,
    encodeNpy({ shape: [rows.length, rows[0]?.length ?? 0], data: rows.flat() }, dtype),
  );
  return p;
}

const a = writeMatrix('a.npy', fixture.x);
const b = writeMatrix('b.npy', fixture.y);

async function run(...argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

test('fid --json matches the numpy float64 reference', async () => {
  const r = await run('fid', a, b, '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.method, 'lowrank');
  assert.deepEqual([j.n1, j.n2, j.dims], [9, 12, 30]);
  assert.ok(
    Math.abs(j.fid - fixture.fid_lowrank) / fixture.fid_lowrank < 1e-9,
    `${j.fid} vs ${fixture.fid_lowrank}`,
  );
  assert.equal(j.ci95, undefined);
});

test('fid --bootstrap adds ci95; stats files give method "stats" and the same value', async () => {
  const boot = JSON.parse(
    (await run('fid', a, b, '--json', '--bootstrap', '20', '--seed', '3')).out,
  );
  assert.equal(boot.ci95.length, 2);
  assert.ok(boot.ci95[0] < boot.ci95[1]);
  const s = join(dir, 'b_stats.npz');
  assert.equal((await run('stats', b, '--out', s)).code, 0);
  const j = JSON.parse((await run('fid', a, s, '--json')).out);
  assert.equal(j.method, 'stats');
  assert.ok(Math.abs(j.fid - fixture.fid_lowrank) / fixture.fid_lowrank < 1e-9);
  const human = await run('fid', a, b);
  assert.match(human.out, /^FID \d+\.\d+ +\(method lowrank, n1=9, n2=12, dims=30\)/);
});

test('stats writes pytorch-fid mu/sigma equal to featureStats', async () => {
  const out = join(dir, 's.npz');
  const r = await run('stats', a, '--out', out);
  assert.equal(r.code, 0, r.err);
  const members = parseNpz(new Uint8Array(readFileSync(out)));
  const expected = featureStats({ rows: 9, cols: 30, data: Float64Array.from(fixture.x.flat()) });
  assert.deepEqual(members.get('mu')?.shape, [30]);
  assert.deepEqual(members.get('sigma')?.shape, [30, 30]);
  assert.deepEqual(Array.from(members.get('mu')!.data), Array.from(expected.mu));
});

test('kid --json has kid and kid_std; clamping warns on stderr', async () => {
  const r = await run('kid', a, b, '--json', '--subsets', '5', '--seed', '1');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(typeof j.kid, 'number');
  assert.equal(typeof j.kid_std, 'number');
  assert.match(r.err, /warning: KID subset size 1000 clamped to 9/);
});

test('rank-k --json: identical probe and gallery give rank-1 = 1', async () => {
  const r = await run('rank-k', '--probe', a, '--gallery', a, '--k', '1,5', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(j.rank, { '1': 1, '5': 1 });
  assert.equal(j.cmc.length, 9);
  const labelsP = join(dir, 'p.txt');
  writeFileSync(labelsP, 'x\ny\n');
  const bad = await run(
    'rank-k',
    '--probe',
    a,
    '--gallery',
    a,
    '--probe-labels',
    labelsP,
    '--gallery-labels',
    labelsP,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /p.txt: 2 labels for 9 feature rows/);
});

test('correlate reads a two-column CSV with a header', async () => {
  const csv = join(dir, 'x.csv');
  writeFileSync(csv, 'fid_a,fid_b\n1,2\n2,4\n3,5\n4,4.5\n');
  const j = JSON.parse((await run('correlate', csv, '--json')).out);
  assert.equal(j.n, 4);
  assert.equal(j.spearman, 0.8); // ranks (1,2,3,4) vs (1,2,4,3): 1 - 6*2/(4*15)
  assert.ok(Math.abs(j.kendall - 4 / 6) < 1e-12); // 5 concordant, 1 discordant
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, '1,2\n3,x\n');
  const r = await run('correlate', bad);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad.csv: line 2: '3,x' is not two finite numbers/);
});

test('bad input: one line naming the file and the problem, non-zero exit', async () => {
  const vec = join(dir, 'vec.npy');
  writeFileSync(vec, encodeNpy({ shape: [4], data: [1, 2, 3, 4] }));
  const nan = writeMatrix('nan.npy', [
    [1, 2],
    [NaN, 3],
  ]);
  const one = writeMatrix('one.npy', [[1, 2, 3]]);
  const d2 = writeMatrix('d2.npy', [
    [1, 2],
    [3, 4],
  ]);
  const txt = join(dir, 'notes.npy');
  writeFileSync(txt, 'hello');
  const cases: [string[], RegExp][] = [
    [['fid', join(dir, 'missing.npy'), b], /missing.npy: no such file/],
    [['fid', vec, b], /vec.npy: expected a 2-D feature matrix \(N x D\), got shape \(4\)/],
    [['fid', nan, d2], /nan.npy: non-finite value NaN at row 1, column 0/],
    [['fid', one, a], /one.npy: FID needs at least 2 samples, got 1/],
    [['fid', a, d2], /feature dimensions differ \(30 in .*a.npy vs 2 in .*d2.npy\)/],
    [['fid', txt, b], /notes.npy: not an npy file/],
    [['kid', a, d2], /30.*2|2.*30/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 1, `${argv.join(' ')} exit code`);
    assert.equal(r.err.split('\n').length, 1, `one line: ${r.err}`);
    assert.match(r.err, pattern);
  }
  const usage = await run('fid', a);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /expected two inputs A B, got 1/);
  const badOpt = await run('kid', a, b, '--subsets', 'many');
  assert.equal(badOpt.code, 2);
  assert.match(badOpt.err, /--subsets must be an integer >= 1, got 'many'/);
});

test('demo runs end to end and writes its files', async () => {
  const out = join(dir, 'demo');
  const r = await run('demo', '--out', out, '--epochs', '3');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /best epoch by fid_raw: \d/);
  const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 4);
  // The demo's FID column is what fid-core computes from the files it wrote.
  const read = (name: string): Matrix => {
    const m = parseNpz(encodeNpz({ m: { shape: [1], data: [0] } })); // exercise npz round trip
    assert.ok(m.has('m'));
    return readNpyMatrix(join(out, name));
  };
  const f = frechetDistance(read('epoch001.npy'), read('truth.npy')).fid;
  assert.ok(
    Math.abs(f - Number(csv[1].split(',')[1])) / f < 1e-6,
    'float32 files reproduce the printed FID',
  );
});

import { readFeatureMatrix as readNpyMatrix } from '../featureFiles.js';
