import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FidlabError } from '@fidlab/base';
import { openStore } from '../src/index.js';
import { storeSuite } from './storeSuite.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-store-'));
storeSuite(
  'PGlite',
  () => openStore({ dir: join(dir, 'db') }),
  async () => rmSync(dir, { recursive: true, force: true }),
);

describe('embedded PGlite directory', () => {
  it('persists across reopen and refuses a second opener while open', async () => {
    const d = mkdtempSync(join(tmpdir(), 'fidlab-store-lock-'));
    try {
      const a = await openStore({ dir: d });
      await a.upsertSweep({ name: 'kept', spec: { x: 1 } });
      await assert.rejects(
        openStore({ dir: d }),
        (e: unknown) => e instanceof FidlabError && /in use by this process/.test(e.message),
      );
      await a.close();
      const b = await openStore({ url: `pglite:${d}` });
      assert.deepEqual((await b.getSweep('kept'))?.spec, { x: 1 });
      await b.close();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
