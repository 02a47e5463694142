import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isFidlabError } from '@fidlab/base';
import { checkStateDict, diffStateDict } from './checkStateDict.js';
import type { StateDict } from './types.js';

const t = (...shape: number[]) => ({
  shape,
  dtype: 'float32',
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

function sdOf(entries: Record<string, number[]>): StateDict {
  return new Map(Object.entries(entries).map(([k, s]) => [k, t(...s)]));
}

const arch = {
  'conv.weight': [8, 3, 3, 3],
  'conv.bias': [8],
  'bn.weight': [8],
  'bn.bias': [8],
  'bn.running_mean': [8],
  'bn.running_var': [8],
};

function message(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isFidlabError(e));
    assert.equal(e.code, ErrorCode.BAD_FILE_FORMAT);
    return e.message;
  }
  return assert.fail('expected checkStateDict to throw');
}

describe('checkStateDict', () => {
  it('accepts a matching state_dict; BatchNorm counters are not "unexpected"', () => {
    const sd = sdOf({ ...arch, 'bn.num_batches_tracked': [] });
    checkStateDict(sd, arch, { file: 'w.pth', arch: 'tiny' });
  });

  it('lists missing, unexpected and mis-shaped keys with the file and the architecture', () => {
    const sd = sdOf({ ...arch, 'conv.weight': [8, 3, 5, 5], extra: [1] });
    sd.delete('bn.bias');
    const msg = message(() => checkStateDict(sd, arch, { file: 'w.pth', arch: 'tiny' }));
    assert.equal(
      msg,
      'w.pth does not hold tiny weights: 1 missing (bn.bias); 1 unexpected (extra); ' +
        '1 mis-shaped (conv.weight: [8,3,5,5] in file, [8,3,3,3] expected)',
    );
  });

  it('shows the first five of each kind and how many more', () => {
    const expected = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`w${i}`, [1]]));
    const msg = message(() => checkStateDict(new Map(), expected, { file: 'f', arch: 'a' }));
    assert.match(msg, /9 missing \(w0, w1, w2, w3, w4, \.\.\. \(4 more\)\)$/);
  });

  it("hints at a 'module.' prefix (DataParallel) when stripping it would fit", () => {
    const sd = sdOf(Object.fromEntries(Object.entries(arch).map(([k, s]) => [`module.${k}`, s])));
    const msg = message(() => checkStateDict(sd, arch, { file: 'dp.pth', arch: 'tiny' }));
    assert.match(msg, /6 missing .*6 unexpected .*every key in the file starts with 'module\.'/);
  });

  it('a custom ignore list replaces the default', () => {
    const sd = sdOf({ ...arch, 'bn.num_batches_tracked': [], 'aux.w': [2] });
    const d = diffStateDict(sd, arch, (k) => k.startsWith('aux.'));
    assert.deepEqual(d.unexpected, ['bn.num_batches_tracked']);
  });

  it('rank differences count as mis-shaped', () => {
    const d = diffStateDict(sdOf({ ...arch, 'conv.bias': [8, 1] }), arch);
    assert.deepEqual(d.misShaped, [{ key: 'conv.bias', found: [8, 1], expected: [8] }]);
  });
});
