import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, FidlabError, isFidlabError, isInputError } from './errors.js';

test('FidlabError carries its code and cause', () => {
  const cause = new Error('inner');
  const e = new FidlabError(ErrorCode.SHAPE_MISMATCH, 'mu lengths differ (2048 vs 768) in a.npz', {
    cause,
  });
  assert.equal(e.code, 'SHAPE_MISMATCH');
  assert.equal(e.cause, cause);
  assert.ok(isFidlabError(e));
  assert.ok(isInputError(e));
  assert.ok(!isInputError(new FidlabError(ErrorCode.NUMERIC_FAILURE, 'x')));
  assert.ok(!isFidlabError(new Error('x')));
});
