import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ErrorCode, FidlabError } from './errors.js';
import type { NpyDtype } from './npy.js';

/** Test helpers for the file-format tests (not exported from the package index). */

/** Values each file in test-fixtures/npy must parse to (written by make_npy_fixtures.py). */
export interface ExpectedNpy {
  shape: number[];
  dtype: NpyDtype;
  data: number[];
}

/** Bytes of a numpy-written fixture in test-fixtures/npy. */
export function npyFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../test-fixtures/npy/${name}`, import.meta.url)));
}

export const expectedNpy = JSON.parse(
  new TextDecoder().decode(npyFixture('expected.json')),
) as Record<string, ExpectedNpy>;

/** Asserts that fn throws FidlabError BAD_FILE_FORMAT with exactly this one-line message. */
export function throwsFormat(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FidlabError, `expected FidlabError, got ${String(e)}`);
    assert.equal(e.code, ErrorCode.BAD_FILE_FORMAT);
    assert.ok(!e.message.includes('\n'), `message spans lines: ${e.message}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}
