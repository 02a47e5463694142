import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  assertAllClose,
  assertClose,
  captureIo,
  createTestDatabase,
  maxRelativeError,
  rejectsCode,
  relativeError,
  tempDir,
  throwsCode,
} from './index.js';

class FidlabError extends Error {
  override name = 'FidlabError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

describe('close compare', () => {
  test('assertClose and assertAllClose pass inside the tolerance and fail outside it', () => {
    assertClose(1 + 1e-10, 1, 1e-9);
    assert.throws(() => assertClose(1.1, 1, 1e-3, 'fid'), /fid: got 1.1, expected 1/);
    assertAllClose([1, 0.0001], [1, 0], 1e-3);
    assert.throws(() => assertAllClose([1, 0.01], [1, 0], 1e-3), /array\[1\]/);
    assert.throws(() => assertAllClose([1], [1, 2], 1), /length/);
  });

  test('relativeError is the Frobenius ratio; maxRelativeError never passes NaN', () => {
    assert.equal(relativeError([3, 4], [0, 0.0]), Infinity);
    assert.equal(relativeError([1, 1], [1, 1]), 0);
    assert.equal(maxRelativeError([1, 2.5], [1, 2]), 0.25);
    assert.ok(Number.isNaN(maxRelativeError([NaN, 2], [1, 2])));
    assert.equal(maxRelativeError([1], [1, 2]), Infinity);
  });
});

describe('error-code asserts', () => {
  test('throwsCode checks the class name, the code and the one-line message', () => {
    const bad = () => {
      throw new FidlabError('SHAPE_MISMATCH', 'mu lengths differ (2 vs 3) in a.npz');
    };
    throwsCode(bad, 'SHAPE_MISMATCH', /2 vs 3/);
    assert.throws(() => throwsCode(bad, 'INVALID_CONFIG', /2 vs 3/));
    assert.throws(() => throwsCode(bad, 'SHAPE_MISMATCH', /4 vs 5/));
    assert.throws(
      () =>
        throwsCode(
          () => {
            throw new Error('plain');
          },
          'SHAPE_MISMATCH',
          /plain/,
        ),
      /expected FidlabError/,
    );
    assert.throws(
      () =>
        throwsCode(
          () => {
            throw new FidlabError('X', 'two\nlines');
          },
          'X',
          /two/,
        ),
      /spans lines/,
    );
  });

  test('rejectsCode does the same for promises', async () => {
    await rejectsCode(Promise.reject(new FidlabError('X', 'no such run 7')), 'X', /run 7/);
    await assert.rejects(rejectsCode(Promise.resolve(1), 'X', /./));
  });
});

test('tempDir is removed when the test ends; captureIo records lines', async (t) => {
  let dir = '';
  await t.test('inner', (tt) => {
    dir = tempDir(tt);
    writeFileSync(join(dir, 'a.txt'), 'x');
    assert.ok(existsSync(dir));
  });
  assert.equal(existsSync(dir), false);
  const io = captureIo();
  io.out('one');
  io.err('two');
  assert.deepEqual([io.stdout, io.stderr], [['one'], ['two']]);
});

test('a PGlite test database is a pglite: url whose folder drop() removes', async () => {
  const db = await createTestDatabase({ kind: 'pglite', prefix: 'fidlab-testing' });
  assert.ok(typeof db !== 'string');
  assert.match(db.url, /^pglite:.*fidlab-testing-.*\/db$/);
  const folder = db.url.slice('pglite:'.length, -'/db'.length);
  assert.ok(existsSync(folder));
  await db.drop();
  assert.equal(existsSync(folder), false);
});

test('a PostgreSQL test database is created and dropped, or skipped with a reason', async (t) => {
  const db = await createTestDatabase({ prefix: 'fidlab_testing' });
  if (typeof db === 'string') return t.skip(db);
  assert.match(db.url, /\/fidlab_testing_[a-z0-9]+_[0-9a-f]{8}$/);
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
  await c.end();
  await db.drop();
});
