import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { maskUrl, resolveTarget } from '../src/index.js';

describe('resolveTarget', () => {
  it('picks PostgreSQL for postgres URLs, PGlite otherwise, DATABASE_URL only without options', () => {
    const env = { DATABASE_URL: 'postgresql://u@h/db' };
    assert.deepEqual(resolveTarget({}, {}), { kind: 'pglite', dir: resolve('.fidlab/db') });
    assert.deepEqual(resolveTarget({}, env), { kind: 'postgres', url: 'postgresql://u@h/db' });
    assert.deepEqual(resolveTarget({ dir: 'x' }, env), { kind: 'pglite', dir: resolve('x') });
    assert.deepEqual(resolveTarget({ url: 'postgres://a/b' }, env), {
      kind: 'postgres',
      url: 'postgres://a/b',
    });
    assert.deepEqual(resolveTarget({ url: 'pglite:/tmp/d' }, env), {
      kind: 'pglite',
      dir: '/tmp/d',
    });
    assert.deepEqual(resolveTarget({ url: 'memory:' }, env), { kind: 'pglite', dir: undefined });
  });

  it('masks passwords in URLs it prints', () => {
    assert.equal(maskUrl('postgresql://me:secret@h:5432/db'), 'postgresql://me:***@h:5432/db');
    assert.equal(maskUrl('postgresql://me@h/db'), 'postgresql://me@h/db');
  });
});
