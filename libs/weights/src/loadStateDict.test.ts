import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCode, isFidlabError } from '@fidlab/base';
import { findPython, pythonSkip } from '@fidlab/testing';
import { FIXTURES, assertMatches, generateFixtures, readExpected } from '../test/torchFixtures.js';
import { loadStateDict } from './loadStateDict.js';

const expected = readExpected();

async function rejectsWith(p: Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isFidlabError(e), `expected a FidlabError, got ${String(e)}`);
    assert.equal(e.code, code);
    for (const s of parts) assert.ok(e.message.includes(s), `'${e.message}' should mention '${s}'`);
    return true;
  });
}

describe('loadStateDict on committed torch.save fixtures', () => {
  it('zip format: every tensor bit-exact (strides, offsets, shared storages, all dtypes)', async () => {
    assertMatches(await loadStateDict(join(FIXTURES, 'sd_zip.pth')), expected.tensors);
  });

  it('legacy format: every tensor bit-exact', async () => {
    assertMatches(await loadStateDict(join(FIXTURES, 'sd_legacy.pth')), expected.tensors);
  });

  it('pickle protocol 4 in both formats (FRAME, MEMOIZE, STACK_GLOBAL)', async () => {
    for (const f of ['sd_zip_p4.pth', 'sd_legacy_p4.pth']) {
      assertMatches(await loadStateDict(join(FIXTURES, f)), expected.tensors);
    }
  });

  it('zip re-packed with deflate, zip64 local headers and an archive/ folder', async () => {
    assertMatches(await loadStateDict(join(FIXTURES, 'sd_zip64_deflated.pth')), expected.tensors);
  });

  it('a checkpoint wrapping a nested state_dict yields the inner one with dotted names', async () => {
    for (const f of ['wrapped_zip.pth', 'wrapped_legacy.pth']) {
      assertMatches(await loadStateDict(join(FIXTURES, f)), expected.tensors);
    }
  });

  it('.safetensors written by hand in Python', async () => {
    const sd = await loadStateDict(join(FIXTURES, 'sd.safetensors'));
    const kept = ['float32', 'float16', 'int64', 'bfloat16'];
    assertMatches(sd, expected.tensors, { only: (d) => kept.includes(d) });
    assert.equal(
      sd.size,
      Object.values(expected.tensors).filter((t) => kept.includes(t.dtype)).length,
    );
  });

  it('BatchNorm num_batches_tracked is an int64 scalar', async () => {
    const t = (await loadStateDict(join(FIXTURES, 'sd_legacy.pth'))).get('bn.num_batches_tracked');
    assert.deepEqual(t?.shape, []);
    assert.equal(t?.dtype, 'int64');
    assert.deepEqual([...(t?.data ?? [])], [7]);
  });
});

describe('loadStateDict errors name the file and the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-weights-err-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('a pickled nn.Module is refused, naming the global', async () => {
    await rejectsWith(
      loadStateDict(join(FIXTURES, 'module_zip.pth')),
      ErrorCode.BAD_FILE_FORMAT,
      'module_zip.pth',
      "global 'torch.nn.modules.linear.Linear' is not allowed",
      'state_dict()',
    );
  });

  it('a missing file is FILE_NOT_FOUND', async () => {
    await rejectsWith(loadStateDict(join(dir, 'nope.pth')), ErrorCode.FILE_NOT_FOUND, 'nope.pth');
  });

  it('truncated downloads fail clearly in both formats', async () => {
    for (const f of ['sd_zip.pth', 'sd_legacy.pth']) {
      const bytes = readFileSync(join(FIXTURES, f));
      const cut = join(dir, `cut-${f}`);
      writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
      await rejectsWith(loadStateDict(cut), ErrorCode.BAD_FILE_FORMAT, cut);
    }
  });

  it('an unknown format names its first bytes', async () => {
    const p = join(dir, 'junk.bin');
    writeFileSync(p, Buffer.from('hello world, not weights'));
    await rejectsWith(loadStateDict(p), ErrorCode.BAD_FILE_FORMAT, p, '68656c6c6f20776f');
  });

  it('a forbidden global inside a legacy pickle stops before anything runs', async () => {
    // PROTO 2, GLOBAL 'os system', STOP: what a malicious .pth would start with.
    const p = join(dir, 'evil.pth');
    writeFileSync(p, Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cos\nsystem\n.')]));
    await rejectsWith(loadStateDict(p), ErrorCode.BAD_FILE_FORMAT, p, "'os.system'", 'GLOBAL');
  });
});

describe('loadStateDict against the installed torch (fresh fixtures)', () => {
  // A skip reason, or false; with FIDLAB_REQUIRE_SERVICES=1 a missing torch throws (fails).
  const skip = pythonSkip(['torch']);
  it('zip and legacy files from a new seed match torch exactly', { skip }, async () => {
    const python = findPython(['torch'])!;
    const dir = generateFixtures(python, 99);
    try {
      const fresh = readExpected(dir);
      for (const f of [
        'sd_zip.pth',
        'sd_legacy.pth',
        'sd_zip64_deflated.pth',
        'sd_zip_p4.pth',
        'sd_legacy_p4.pth',
        'wrapped_zip.pth',
        'wrapped_legacy.pth',
      ]) {
        assertMatches(await loadStateDict(join(dir, f)), fresh.tensors);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
