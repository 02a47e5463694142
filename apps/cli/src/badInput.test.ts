// The bad-input catalogue: every command, given each class of bad input a user can produce, must
// answer with exit 1 (2 for usage), one line naming the thing and the problem, no stack trace, no
// raw bytes, and lose nothing. Commands run in-process (runCli with captured output) except the
// few cases that need their own process (a store PostgreSQL cannot start, a live lock owner).
// The counts per class are printed at the end (README "Reliability" quotes them).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApiServer, type ApiServer } from '@fidlab/api';
import { encodeNpy, encodeNpz } from '@fidlab/base';
import { openStore } from '@fidlab/store';
import sharp from 'sharp';
import { runCli } from './main.js';
import { captureIo } from '@fidlab/testing';

const repo = join(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'fidlab-catalogue-'));
const p = (name: string) => join(dir, name);

type BadClass =
  | 'missing'
  | 'folder-for-file'
  | 'file-for-folder'
  | 'corrupt'
  | 'wrong kind'
  | 'NaN/Inf'
  | 'invalid covariance'
  | 'unwritable output'
  | 'damaged store'
  | 'API request'
  | 'usage';

interface Case {
  cls: BadClass;
  argv: string[];
  /** Exit code expected (1, or 2 for usage). */
  code: 1 | 2;
  /** The error line must match: it names the thing and the problem. */
  line: RegExp;
  /** Checked after the command: nothing lost (results kept, outputs untouched). */
  kept?: () => void;
}

const tally = new Map<string, number>();
const commandsSeen = new Set<string>();
function count(cls: string, command: string): void {
  tally.set(cls, (tally.get(cls) ?? 0) + 1);
  commandsSeen.add(command);
}

/** The one-line contract on a command's stderr. */
function checkLines(name: string, stderr: string[], line: RegExp): void {
  const errors = stderr.filter((l) => /^fidlab /.test(l));
  assert.equal(errors.length, 1, `${name}: expected one error line, got:\n${stderr.join('\n')}`);
  assert.match(errors[0], line, name);
  const all = stderr.join('\n');
  assert.doesNotMatch(all, /^\s+at .+(\.[cm]?[jt]s|<anonymous>|wasm)/m, `${name}: a stack trace`);
  // Control characters are exactly what must not reach the terminal.
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(all, /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/, `${name}: raw bytes`);
}

async function runCase(c: Case): Promise<void> {
  const io = captureIo();
  const code = await runCli(c.argv, io);
  const name = `fidlab ${c.argv.join(' ')}`;
  assert.equal(code, c.code, `${name}: exit ${code}\n${io.stderr.join('\n')}`);
  checkLines(name, io.stderr, c.line);
  c.kept?.();
  count(c.cls, c.argv[0]);
}

/** The same contract for a separate process (the CLI from its sources). */
function runProcess(cls: BadClass, argv: string[], code: 1 | 2, line: RegExp): void {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@fidlab/source', join(repo, 'tools/dev-fidlab.ts'), ...argv],
    { cwd: repo, encoding: 'utf8', timeout: 120_000 },
  );
  const name = `fidlab ${argv.join(' ')} (process)`;
  assert.equal(r.status, code, `${name}: exit ${r.status}\n${r.stderr}`);
  checkLines(name, r.stderr.split('\n').filter(Boolean), line);
  count(cls, argv[0]);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Fixtures: good and bad feature files, statistics, images, text, binary junk.
const rows = (n: number, d: number, f = (i: number) => Math.sin(i * 1.7) + i / 10) =>
  Array.from({ length: n * d }, (_, i) => f(i));
writeFileSync(p('a.npy'), encodeNpy({ shape: [20, 4], data: rows(20, 4) }));
writeFileSync(p('b.npy'), encodeNpy({ shape: [20, 4], data: rows(20, 4, (i) => Math.cos(i)) }));
writeFileSync(p('nan.npy'), encodeNpy({ shape: [3, 2], data: [1, 2, 3, NaN, 5, 6] }));
writeFileSync(p('inf.npy'), encodeNpy({ shape: [3, 2], data: [1, 2, Infinity, 4, 5, 6] }));
const eye = [1, 0, 0, 0, 1, 0, 0, 0, 1];
writeFileSync(
  p('s.npz'),
  encodeNpz({ mu: { shape: [3], data: [0, 0, 0] }, sigma: { shape: [3, 3], data: eye } }),
);
writeFileSync(
  p('nonsym.npz'),
  encodeNpz({
    mu: { shape: [3], data: [0, 0, 0] },
    sigma: { shape: [3, 3], data: [1, 0.5, 0, -0.5, 1, 0, 0, 0, 1] },
  }),
);
writeFileSync(
  p('negdef.npz'),
  encodeNpz({
    mu: { shape: [3], data: [0, 0, 0] },
    sigma: { shape: [3, 3], data: eye.map((v) => -v) },
  }),
);
writeFileSync(p('notes.npy'), 'these are my notes, not features\n');
writeFileSync(p('short.npy'), readFileSync(p('a.npy')).subarray(0, 100)); // truncated
// A PNG signature and a PyTorch-like zip, then bytes 0..255: a reader must not echo them.
writeFileSync(
  p('img.png'),
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48]),
);
writeFileSync(
  p('model.pth'),
  Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.from(Array.from({ length: 60 }, (_, i) => i))]),
);
writeFileSync(p('junk.bin'), Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)));
writeFileSync(p('good.csv'), 'a,b\n1,2\n2,4\n3,5\n');
writeFileSync(p('bad.csv'), 'a,b\n1,2\n3,x\n');
writeFileSync(p('hex.csv'), 'a,b\n1,2\n0x10,4\n3,5\n');
writeFileSync(p('const.csv'), 'a,b\n1,2\n1,4\n1,5\n');
writeFileSync(p('bad.yaml'), 'name: [unclosed\n');
writeFileSync(p('labels.txt'), 'x\n');
mkdirSync(p('imgs'));
mkdirSync(p('outdir'));
writeFileSync(p('existing.npz'), 'keep me');

// A place where creating a file fails even for root (sysfs), to test the write-failure path.
const unwritable = existsSync('/sys/kernel') ? '/sys/kernel/fidlab-catalogue.npz' : null;

const missing = p('nope');
const cases: Case[] = [];
const add = (cls: BadClass, argv: string[], line: RegExp, code: 1 | 2 = 1, kept?: () => void) =>
  cases.push({ cls, argv, code, line, kept });

// fid
add('missing', ['fid', p('a.npy'), missing + '.npy'], /nope\.npy: no such file/);
add('folder-for-file', ['fid', p('a.npy'), p('imgs')], /imgs is a folder: pass --extractor/, 2);
add('corrupt', ['fid', p('a.npy'), p('short.npy')], /short\.npy: truncated/);
add(
  'corrupt',
  ['fid', p('a.npy'), p('notes.npy')],
  /notes\.npy: not an npy file: it is a text file/,
);
add(
  'wrong kind',
  ['fid', p('a.npy'), p('img.png')],
  /img\.png: not an npy file: it is a PNG image/,
);
add(
  'wrong kind',
  ['fid', p('a.npy'), p('junk.bin')],
  /junk\.bin: not an npy file: it is a binary file/,
);
add(
  'NaN/Inf',
  ['fid', p('a.npy'), p('nan.npy')],
  /nan\.npy: non-finite value NaN at row 1, column 1/,
);
add(
  'NaN/Inf',
  ['fid', p('a.npy'), p('inf.npy')],
  /inf\.npy: non-finite value Infinity at row 1, column 0/,
);
add(
  'invalid covariance',
  ['fid', p('s.npz'), p('nonsym.npz')],
  /nonsym\.npz \(sigma\): covariance is not symmetric: entry \(0, 1\) is 0\.5 but \(1, 0\) is -0\.5 .*tolerance 1e-5/,
);
add(
  'invalid covariance',
  ['fid', p('s.npz'), p('negdef.npz')],
  /negdef\.npz \(sigma\): covariance is not positive semi-definite: smallest eigenvalue -1\.000e\+0 is below the rounding tolerance/,
);
add('usage', ['fid', p('a.npy')], /expected two inputs A B, got 1/, 2);
// kid
add('missing', ['kid', missing + '.npy', p('b.npy')], /nope\.npy: no such file/);
add('folder-for-file', ['kid', p('imgs'), p('b.npy')], /imgs is a folder: pass --extractor/, 2);
add(
  'wrong kind',
  ['kid', p('a.npy'), p('s.npz')],
  /s\.npz: not a feature matrix: it is pytorch-fid statistics .* needs a \.npy feature matrix/,
);
add(
  'wrong kind',
  ['kid', p('a.npy'), p('model.pth')],
  /model\.pth: not an npy file: it is a zip archive/,
);
add('NaN/Inf', ['kid', p('a.npy'), p('inf.npy')], /inf\.npy: non-finite value Infinity/);
add(
  'usage',
  ['kid', p('a.npy'), p('b.npy'), '--seed', 'x'],
  /--seed must be an integer >= 0, got 'x'/,
  2,
);
add(
  'usage',
  ['kid', p('a.npy'), p('b.npy'), '--subsets', '0x10'],
  /--subsets must be an integer >= 1, got '0x10'/,
  2,
);
// rank-k
add(
  'missing',
  ['rank-k', '--probe', missing + '.npy', '--gallery', p('b.npy')],
  /nope\.npy: no such file/,
);
add(
  'wrong kind',
  ['rank-k', '--probe', p('s.npz'), '--gallery', p('b.npy')],
  /s\.npz: not a feature matrix: it is pytorch-fid statistics/,
);
add(
  'NaN/Inf',
  ['rank-k', '--probe', p('nan.npy'), '--gallery', p('nan.npy')],
  /nan\.npy: non-finite value NaN/,
);
add(
  'folder-for-file',
  [
    'rank-k',
    '--probe',
    p('a.npy'),
    '--gallery',
    p('b.npy'),
    '--probe-labels',
    p('imgs'),
    '--gallery-labels',
    p('labels.txt'),
  ],
  /imgs: is a folder, expected a labels file/,
);
// stats
add('missing', ['stats', missing + '.npy', '--out', p('o.npz')], /nope\.npy: no such file/);
add(
  'wrong kind',
  ['stats', p('s.npz'), '--out', p('o.npz')],
  /s\.npz: not a feature matrix: it is pytorch-fid statistics/,
);
add('NaN/Inf', ['stats', p('nan.npy'), '--out', p('o.npz')], /nan\.npy: non-finite value NaN/);
add(
  'unwritable output',
  ['stats', p('a.npy'), '--out', join(missing, 'o.npz')],
  /--out .*nope\/o\.npz: folder .*nope does not exist/,
);
add(
  'folder-for-file',
  ['stats', p('a.npy'), '--out', p('outdir')],
  /--out .*outdir: is a folder; give a file name/,
);
add(
  'file-for-folder',
  ['stats', p('a.npy'), '--out', join(p('a.npy'), 'o.npz')],
  /a\.npy is a file, not a folder/,
);
if (unwritable)
  add(
    'unwritable output',
    ['stats', p('a.npy'), '--out', unwritable],
    /write failed .*; the result was saved to (\S+)$/,
    1,
    () => undefined,
  );
// features: every path is checked before the extractor is built (no progress line, fast)
add(
  'missing',
  ['features', missing, '--extractor', 'facerec', '--out', p('f.npy')],
  /nope: no such folder/,
);
add(
  'file-for-folder',
  ['features', p('a.npy'), '--extractor', 'facerec', '--out', p('f.npy')],
  /a\.npy: is a file, expected a folder of images/,
);
add(
  'unwritable output',
  ['features', p('imgs'), '--extractor', 'facerec', '--out', join(missing, 'f.npy')],
  /folder .*nope does not exist \(create it first\)/,
);
add(
  'folder-for-file',
  ['features', p('imgs'), '--extractor', 'facerec', '--out', p('outdir')],
  /--out .*outdir: is a folder; give a file name \(e\.g\. .*outdir\/features\.npy\)/,
);
add(
  'folder-for-file',
  ['features', p('imgs'), '--extractor', 'facerec', '--weights', p('imgs'), '--out', p('f.npy')],
  /--weights .*imgs: is a folder, expected a weights file/,
);
add(
  'missing',
  [
    'features',
    p('imgs'),
    '--extractor',
    'facerec',
    '--weights',
    missing + '.pth',
    '--out',
    p('f.npy'),
  ],
  /--weights .*nope\.pth: no such file/,
);
// A PyTorch file where face-api weights belong: named, its bytes escaped (not printed raw).
add(
  'wrong kind',
  [
    'features',
    p('faces'),
    '--extractor',
    'facerec',
    '--weights',
    p('model.pth'),
    '--out',
    p('f.npy'),
  ],
  /model\.pth: not a JSON weights manifest .*"PK\\x03\\x04\\x00\\x01/,
);
// correlate
add('missing', ['correlate', missing + '.csv'], /nope\.csv: no such file/);
add('folder-for-file', ['correlate', p('imgs')], /imgs: is a folder, expected a CSV file/);
add('wrong kind', ['correlate', p('img.png')], /img\.png: is a PNG image; expected a CSV file/);
add(
  'wrong kind',
  ['correlate', p('junk.bin')],
  /junk\.bin: is a binary file of an unknown kind; expected a CSV/,
);
add('corrupt', ['correlate', p('bad.csv')], /bad\.csv: line 3: '3,x' is not two finite numbers/);
add('corrupt', ['correlate', p('hex.csv')], /hex\.csv: line 3: '0x10,4' is not two finite numbers/);
// data
add(
  'file-for-folder',
  ['data', 'synth', '--out', p('a.npy')],
  /--out .*a\.npy: is a file, expected a folder/,
);
add('missing', ['data', 'check', missing], /nope: no such folder/);
add(
  'file-for-folder',
  ['data', 'check', p('a.npy')],
  /a\.npy: is a file, expected a dataset folder/,
);
add('usage', ['data', 'frobnicate'], /unknown action 'frobnicate'/, 2);
// demo
add(
  'file-for-folder',
  ['demo', '--out', p('a.npy')],
  /--out .*a\.npy: is a file, expected a folder/,
);
add(
  'file-for-folder',
  ['demo', '--out', join(p('a.npy'), 'sub')],
  /cannot create it, .*a\.npy is a file/,
);
// run
add('missing', ['run', missing + '.yaml'], /sweep file .*nope\.yaml: no such file/);
add('folder-for-file', ['run', p('imgs')], /sweep file .*imgs: is a folder, expected a sweep file/);
add('corrupt', ['run', p('bad.yaml')], /bad\.yaml:\d+:\d+: not valid YAML/);
add('wrong kind', ['run', p('junk.bin')], /junk\.bin/);
// train, generate, train --trial identity
add(
  'missing',
  ['train', '--data', missing, '--out', p('run1'), '--model', 'unet'],
  /--data .*nope: no such folder/,
);
add(
  'file-for-folder',
  ['train', '--data', p('a.npy'), '--out', p('run1'), '--model', 'unet'],
  /--data .*a\.npy: is a file, expected a dataset folder/,
);
add(
  'file-for-folder',
  ['train', '--data', p('imgs'), '--out', p('a.npy'), '--model', 'unet'],
  /--out .*a\.npy: is a file, expected a folder/,
);
add(
  'usage',
  ['train', '--data', p('imgs'), '--out', p('run1'), '--model', 'unet', '--epochs', '-3'],
  /--epochs must be an integer >= 0, got '-3'/,
  2,
);
add(
  'missing',
  ['generate', '--checkpoint', missing, '--out', p('gen')],
  /--checkpoint .*nope: no such folder/,
);
add(
  'file-for-folder',
  ['generate', '--checkpoint', p('imgs'), '--out', p('a.npy')],
  /--out .*a\.npy: is a file, expected a folder/,
);
add(
  'missing',
  [
    'train',
    '--trial',
    'identity',
    '--data',
    missing,
    '--out',
    p('id'),
    '--epochs',
    '1',
    '--lr',
    '0.1',
    '--probe-split',
    'test',
  ],
  /--data .*nope: no such folder/,
);
// weights
add('missing', ['weights', 'inspect', missing + '.pth'], /nope\.pth: no such file/);
add(
  'folder-for-file',
  ['weights', 'inspect', p('imgs')],
  /imgs: is a folder, expected a weights file/,
);
add('wrong kind', ['weights', 'inspect', p('junk.bin')], /junk\.bin/);
add(
  'unwritable output',
  ['weights', 'convert', p('model.pth'), '--out', join(missing, 'w.safetensors')],
  /folder .*nope does not exist/,
);
// export, best, runs: output paths before the query
add(
  'unwritable output',
  ['export', '--sweep', 'x', '--format', 'csv', '--out', join(missing, 'x.csv'), '--db', 'memory:'],
  /--out .*nope\/x\.csv: folder .*nope does not exist/,
);
add(
  'folder-for-file',
  ['export', '--sweep', 'x', '--format', 'csv', '--out', p('outdir'), '--db', 'memory:'],
  /outdir: is a folder; give a file name/,
);
add('usage', ['best', '--metric', 'fid'], /--sweep|--run|required/, 2);
// store
add(
  'missing',
  ['runs', '--sweep', 'x', '--db', 'postgresql://postgres@127.0.0.1:5432/fidlab_no_such_db'],
  /cannot connect to PostgreSQL at \S+\/fidlab_no_such_db: /,
);
add(
  'missing',
  ['store', 'restore', missing + '.tgz', '--db', `pglite:${p('restored')}`],
  /backup file .*nope\.tgz: no such file/,
);
add(
  'wrong kind',
  ['store', 'restore', p('img.png'), '--db', `pglite:${p('restored')}`],
  /img\.png: not an embedded-store backup/,
);
add(
  'unwritable output',
  ['store', 'backup', join(missing, 'b.tgz'), '--db', `pglite:${p('restored')}`],
  /backup file .*nope\/b\.tgz: folder .*nope does not exist/,
);
add('usage', ['store', 'fix'], /expected check, backup or restore, got 'fix'/, 2);

describe('bad-input catalogue', () => {
  const good = p('store-good');
  let server: ApiServer | undefined;
  let serverToken = '';

  before(async () => {
    mkdirSync(p('faces'));
    await sharp({ create: { width: 32, height: 32, channels: 3, background: '#864' } })
      .png()
      .toFile(p('faces/a.png'));
    const store = await openStore({ url: `pglite:${good}` });
    const s = await store.upsertSweep({ name: 'demo', spec: { a: 1 } });
    await store.createRuns(s.id, [{ parameters: { lr: 1 } }, { parameters: { lr: 2 } }]);
    await store.close();
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    const lines = [...tally.entries()].map(([k, v]) => `${k} ${v}`).join(', ');
    const total = [...tally.values()].reduce((a, b) => a + b, 0);
    console.log(
      `bad-input catalogue: ${total} cases over ${commandsSeen.size} commands (${lines})`,
    );
  });

  it('files and folders: missing, swapped, corrupt, wrong kind, NaN/Inf, invalid covariance, unwritable', async () => {
    for (const c of cases) await runCase(c);
  });

  it('a result whose write fails is kept in a rescue file named by the error', async () => {
    if (!unwritable) return;
    const io = captureIo();
    assert.equal(await runCli(['stats', p('a.npy'), '--out', unwritable], io), 1);
    const rescue = /saved to (\S+)$/.exec(io.stderr.at(-1) ?? '')?.[1];
    assert.ok(rescue && existsSync(rescue), io.stderr.join('\n'));
    assert.equal(readFileSync(rescue).subarray(0, 2).toString(), 'PK'); // the .npz itself
    rmSync(rescue);
  });

  it('an existing output is untouched when the command fails', async () => {
    const io = captureIo();
    assert.equal(await runCli(['stats', p('nan.npy'), '--out', p('existing.npz')], io), 1);
    assert.equal(readFileSync(p('existing.npz'), 'utf8'), 'keep me');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
      'no temporary files left',
    );
  });

  it('what used to fail now works: --seed -3, a constant column warns', async () => {
    const io = captureIo();
    assert.equal(
      await runCli(['kid', p('a.npy'), p('b.npy'), '--seed', '-3', '--subsets', '2'], io),
      2,
    );
    assert.match(io.stderr[0], /--seed must be an integer >= 0, got '-3'/); // parsed, then range-checked
    const io2 = captureIo();
    assert.equal(
      await runCli(['fid', p('a.npy'), p('b.npy'), '--bootstrap', '3', '--seed', '-0'], io2),
      0,
    );
    const io3 = captureIo();
    assert.equal(await runCli(['correlate', p('const.csv')], io3), 0);
    assert.match(
      io3.stderr.join('\n'),
      /warning: .*const\.csv: column 'a' is constant \(all 3 values are 1\): the correlations are undefined \(NaN\)/,
    );
  });

  it('damaged stores: every store command exits 1 with one line naming the store and what to do', async () => {
    const table = p('store-table');
    cpSync(good, table, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(good, 'fidlab.manifest.json'), 'utf8')) as {
      files: { name: string; path: string }[];
    };
    truncateSync(join(table, manifest.files.find((f) => f.name === 'runs')!.path), 0);
    const db = `pglite:${table}`;
    const damaged = new RegExp(
      `the store ${esc(table)} is damaged \\(runs: file \\S+ is 0 bytes, was \\d+ at the last close\\); restore a backup with 'fidlab store restore FILE'`,
    );
    for (const argv of [
      ['runs', '--sweep', 'demo', '--db', db],
      ['best', '--sweep', 'demo', '--metric', 'fid', '--db', db],
      ['export', '--sweep', 'demo', '--format', 'csv', '--db', db],
      ['token', 'list', '--db', db],
      ['serve', '--db', db, '--port', '0'],
      ['store', 'check', '--db', db],
      ['store', 'backup', p('never.tgz'), '--db', db],
    ])
      await runCase({ cls: 'damaged store', argv, code: 1, line: damaged });
    assert.ok(!existsSync(p('never.tgz')), 'a damaged store is not backed up');

    // Without the manifest (a store never closed cleanly), store check still finds it.
    rmSync(join(table, 'fidlab.manifest.json'));
    const io = captureIo();
    assert.equal(await runCli(['store', 'check', '--db', db], io), 1);
    assert.match(io.stderr.join('\n'), /runs: could not read block/);
    count('damaged store', 'store');

    // Backup and restore bring it back; the damaged folder is kept aside.
    const backup = p('good.tgz');
    assert.equal(
      await runCli(['store', 'backup', backup, '--db', `pglite:${good}`], captureIo()),
      0,
    );
    const io2 = captureIo();
    assert.equal(
      await runCli(['store', 'restore', backup, '--db', db], io2),
      0,
      io2.stderr.join('\n'),
    );
    assert.match(io2.stdout[0], /check ok: \d+ tables/);
    const io3 = captureIo();
    assert.equal(await runCli(['runs', '--sweep', 'demo', '--db', db], io3), 0);
    assert.equal(io3.stdout.length, 3); // header + 2 runs
    assert.ok(readdirSync(dir).some((f) => f.startsWith('store-table.before-restore-')));
  });

  it('control file and WAL truncated: one line, not a wasm abort (separate processes)', () => {
    for (const [name, file, size] of [
      ['store-control', 'global/pg_control', 100],
      ['store-wal', 'pg_wal/000000010000000000000001', 4096],
    ] as const) {
      const d = p(name);
      cpSync(good, d, { recursive: true });
      truncateSync(join(d, file), size);
      runProcess(
        'damaged store',
        ['runs', '--sweep', 'demo', '--db', `pglite:${d}`],
        1,
        new RegExp(
          `the store ${esc(d)} is damaged \\(PostgreSQL aborted while starting: its control file or write-ahead log is unreadable\\)`,
        ),
      );
    }
  });

  it('the embedded store lock names the lock file and its live owner; a stale lock is taken over', async () => {
    const locked = p('store-locked');
    cpSync(good, locked, { recursive: true });
    // A live process that is not this one: a child that sleeps.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {
      stdio: 'ignore',
    });
    try {
      writeFileSync(
        join(locked, 'fidlab.lock'),
        JSON.stringify({ pid: child.pid, host: hostname(), since: '2026-01-01T00:00:00Z' }),
      );
      await runCase({
        cls: 'damaged store',
        argv: ['runs', '--sweep', 'demo', '--db', `pglite:${locked}`],
        code: 1,
        line: new RegExp(
          `${esc(locked)} is in use by process ${child.pid} \\(since 2026-01-01T00:00:00Z\\) \\(lock file ${esc(join(locked, 'fidlab.lock'))}\\)`,
        ),
      });
    } finally {
      child.kill();
    }
    await new Promise((r) => child.once('exit', r));
    // Its process is gone now: the lock is stale and taken over.
    const io = captureIo();
    assert.equal(await runCli(['runs', '--sweep', 'demo', '--db', `pglite:${locked}`], io), 0);
    assert.ok(!existsSync(join(locked, 'fidlab.lock')), 'released after use');
  });

  it('API requests: oversized, malformed, invalid, wrong token; through the CLI too', async () => {
    const store = await openStore({ url: 'memory:' });
    serverToken = await store.createToken('t');
    server = await createApiServer({ store, port: 0, maxBodyBytes: 4096 });
    const url = server.url;
    const post = async (path: string, body: string, token = serverToken) => {
      const r = await fetch(`${url}/trpc/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      const j = (await r.json()) as { error?: { message: string } };
      return { status: r.status, message: j.error?.message ?? '' };
    };
    const api = (status: number, message: RegExp, r: { status: number; message: string }) => {
      assert.equal(r.status, status, r.message);
      assert.match(r.message, message);
      assert.ok(!r.message.includes('\n'), 'one line');
      count('API request', 'serve');
    };
    api(
      413,
      /request body too large \(limit 4096 bytes\)/,
      await post('sweeps.create', 'x'.repeat(5000)),
    );
    api(400, /JSON|Unexpected|parse/i, await post('sweeps.create', '{"name": '));
    api(
      400,
      /spec: name: use letters, digits/,
      await post(
        'sweeps.create',
        JSON.stringify({ name: '../../../tmp/x', spec: { name: '../../../tmp/x' } }),
      ),
    );
    api(401, /invalid or revoked token/, await post('sweeps.create', '{}', 'fidlab_wrong'));
    assert.deepEqual(await store.listSweeps(), [], 'nothing stored');
    // The CLI's --server forms: a wrong token and an unreachable server are one line each.
    await runCase({
      cls: 'API request',
      argv: ['token', 'list', '--server', url, '--token', 'fidlab_wrong'],
      code: 1,
      line: /server: UNAUTHORIZED: invalid or revoked token/,
    });
    const closed = await new Promise<number>((resolve) => {
      const s = createNetServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    await runCase({
      cls: 'API request',
      argv: ['runs', '--sweep', 'x', '--server', `http://127.0.0.1:${closed}`, '--token', 'x'],
      code: 1,
      line: /server: cannot reach it \(ECONNREFUSED\)/,
    });
    await server.close();
    server = undefined;
    await store.close();
  });
});
