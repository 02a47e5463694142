import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/index.js';
import { storeSuite } from './storeSuite.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-store-'));
storeSuite(
  'PGlite',
  () => openStore({ dir: join(dir, 'db') }),
  async () => rmSync(dir, { recursive: true, force: true }),
);
