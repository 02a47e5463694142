import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Anything with node:test's `after` hook: a test context `t`, or `{ after }` from node:test. */
export interface Cleanup {
  after(fn: () => void | Promise<void>): void;
}

/** A fresh folder under the OS temp dir, removed when the test (or suite) ends. */
export function tempDir(t: Cleanup, prefix = 'fidlab-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
