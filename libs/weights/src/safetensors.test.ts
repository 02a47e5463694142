import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCode, isFidlabError } from '@fidlab/base';
import { FIXTURES } from '../test/torchFixtures.js';
import { loadStateDict, parseStateDict } from './loadStateDict.js';
import { encodeSafetensors, readSafetensorsMetadata, saveSafetensors } from './safetensors.js';
import type { StateDict } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-safetensors-'));
after(() => rm(dir, { recursive: true, force: true }));

function assertSame(a: StateDict, b: StateDict): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.deepEqual(u.shape, t.shape, k);
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.data, t.data, k);
  }
}

describe('safetensors', () => {
  it('round-trips every tensor of a torch file: values, shapes, dtypes and order', async () => {
    const sd = await loadStateDict(join(FIXTURES, 'sd_legacy.pth'));
    const p = join(dir, 'rt.safetensors');
    await saveSafetensors(p, sd, { note: 'hello' });
    assertSame(await loadStateDict(p), sd);
    const meta = await readSafetensorsMetadata(p);
    assert.equal(meta.note, 'hello');
    // float16/bfloat16/float64 are stored as F32 (exact for float32 data); their names survive.
    // So is i32: 2^31 - 1 became 2^31 in float32, which int32 cannot hold.
    assert.deepEqual(JSON.parse(meta['fidlab.dtypes']), {
      f64: 'float64',
      f16: 'float16',
      bf16: 'bfloat16',
      i32: 'int32',
    });
  });

  it('writes the standard layout: u64 header length, JSON, 8-byte aligned data', () => {
    const sd: StateDict = new Map([
      ['2', { shape: [2], dtype: 'float32', data: new Float32Array([1.5, -2]) }],
      ['1', { shape: [], dtype: 'int64', data: new Float32Array([7]) }],
    ]);
    const bytes = encodeSafetensors(sd);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header['2'], { dtype: 'F32', shape: [2], data_offsets: [0, 8] });
    assert.deepEqual(header['1'], { dtype: 'I64', shape: [], data_offsets: [8, 16] });
    assert.deepEqual([...new Float32Array(bytes.buffer.slice(8 + n, 16 + n))], [1.5, -2]);
    // Integer-like names come back in file order, not JSON's numeric-key order.
    assert.deepEqual([...parseStateDict(bytes, 'x').keys()], ['2', '1']);
  });

  it('an integer tensor holding non-integers is stored as F32, keeping its dtype name', () => {
    const sd: StateDict = new Map([
      ['x', { shape: [2], dtype: 'int32', data: new Float32Array([1, 2.5]) }],
    ]);
    const back = parseStateDict(encodeSafetensors(sd), 'x.safetensors');
    assert.deepEqual(back.get('x'), sd.get('x'));
  });

  it('refuses a data array that disagrees with the shape', () => {
    const sd: StateDict = new Map([
      ['x', { shape: [3], dtype: 'float32', data: new Float32Array(2) }],
    ]);
    assert.throws(() => encodeSafetensors(sd), /'x': shape \[3\] holds 3 values but data has 2/);
  });

  it('bad files fail naming the file and the tensor', async () => {
    const good = readFileSync(join(FIXTURES, 'sd.safetensors'));
    const n = Number(good.readBigUInt64LE(0));
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, good.subarray(0, good.length - 40));
    await assert.rejects(loadStateDict(cut), (e: unknown) => {
      assert.ok(isFidlabError(e) && e.code === ErrorCode.BAD_FILE_FORMAT);
      assert.match(e.message, /cut\.safetensors: tensor '.+' .* does not fit data_offsets/);
      return true;
    });
    const bad = Buffer.from(good);
    bad.write('F8_E4M3', bad.indexOf('"F32"') + 1, 'latin1'); // overwrites F32" + 4 bytes
    assert.ok(n > 0);
    const badPath = join(dir, 'bad.safetensors');
    writeFileSync(badPath, bad);
    await assert.rejects(loadStateDict(badPath), /bad\.safetensors: /);
  });
});
