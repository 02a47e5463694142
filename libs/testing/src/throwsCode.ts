import assert from 'node:assert/strict';

// FidlabError is recognised by its name and code rather than by class, so that this lib needs no
// @fidlab dependency and every lib (base included) may use it in its tests.
function checkError(e: unknown, code: string, pattern: RegExp): true {
  assert.ok(
    e instanceof Error && e.name === 'FidlabError' && 'code' in e,
    `expected FidlabError, got ${String(e)}`,
  );
  assert.equal((e as Error & { code: unknown }).code, code);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes('\n'), `message spans lines: ${e.message}`);
  return true;
}

/** Asserts that fn throws a FidlabError with this code and a one-line message matching pattern. */
export function throwsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => checkError(e, code, pattern));
}

/** throwsCode for a promise (or a function returning one). */
export async function rejectsCode(
  p: Promise<unknown> | (() => Promise<unknown>),
  code: string,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => checkError(e, code, pattern));
}
