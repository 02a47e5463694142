import { openStore } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '@fidlab/testing';
import { storeSuite } from './storeSuite.js';

let db: TestDatabase | undefined;
storeSuite(
  'PostgreSQL',
  async () => {
    const created = await createTestDatabase();
    if (typeof created === 'string') return created;
    db = created;
    return openStore({ url: db.url });
  },
  async () => db?.drop(),
);
