// The embedded store's lock across processes: exclusive creation lets exactly one of several
// racing openers in; the refusal names the lock file and the owner; a stale lock is taken over.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FidlabError } from '@fidlab/base';
import { lockStoreDir, LOCK_FILE } from '../src/lock.js';

const lockModule = new URL('../src/lock.ts', import.meta.url).href;

/** A child process that tries the lock once at `startAt` (ms epoch), holds it 4 s, says which. */
function racer(dir: string, startAt: number): Promise<string> {
  const code = `
    const { lockStoreDir } = await import(${JSON.stringify(lockModule)});
    while (Date.now() < ${startAt}) {}
    try {
      const release = lockStoreDir(${JSON.stringify(dir)});
      console.log('got');
      setTimeout(() => { release(); }, 4000);
    } catch (e) { console.log('refused: ' + e.message); }
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@fidlab/source', '--input-type=module', '-e', code],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(out.trim()));
  });
}

describe('embedded store lock', () => {
  it('of 4 processes racing for one folder exactly one gets in; the others are told who holds it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-lock-race-'));
    try {
      // Start them all at one instant (after tsx has loaded in each).
      const startAt = Date.now() + 6000;
      const results = await Promise.all([0, 1, 2, 3].map(() => racer(dir, startAt)));
      assert.equal(results.filter((r) => r === 'got').length, 1, results.join('\n'));
      for (const r of results.filter((x) => x !== 'got'))
        assert.match(
          r,
          new RegExp(
            `is in use by process \\d+ .*\\(lock file ${join(dir, LOCK_FILE).replace(/[.]/g, '\\.')}\\)`,
          ),
        );
      assert.ok(!existsSync(join(dir, LOCK_FILE)), 'released by its owner');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stale lock (its process is gone) is taken over and said so; a live one is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fidlab-lock-stale-'));
    try {
      const gone = spawnSync(process.execPath, ['-e', '0']).pid;
      writeFileSync(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid: gone, host: hostname(), since: 'then' }),
      );
      const log: string[] = [];
      const release = lockStoreDir(dir, (l) => log.push(l));
      assert.match(log[0], new RegExp(`removed a stale lock .*\\(process ${gone} is gone\\)`));
      assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
      assert.throws(
        () => lockStoreDir(dir),
        (e: unknown) =>
          e instanceof FidlabError && /in use by this process \(opened twice\)/.test(e.message),
      );
      release();
      // A lock from another host is never judged stale from here.
      writeFileSync(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid: gone, host: 'elsewhere', since: 'then' }),
      );
      assert.throws(() => lockStoreDir(dir), /in use by process \d+ on host elsewhere/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
