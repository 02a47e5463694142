// The server over PostgreSQL, with a second writer (another Store on the same database, as
// `fidlab run` in another process would be): the progress subscription sees its writes by polling.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { openStore } from '@fidlab/store';
import { createTestDatabase } from '@fidlab/testing';
import { createApiClient, createApiServer } from '../src/index.js';

describe('api over PostgreSQL', () => {
  it('progress reflects writes made by another connection; best agrees', async (t) => {
    const created = await createTestDatabase({ prefix: 'fidlab_api' });
    if (typeof created === 'string') return t.skip(created);
    const served = await openStore({ url: created.url });
    const writer = await openStore({ url: created.url });
    const server = await createApiServer({ store: served, port: 0, publicRead: true, pollMs: 50 });
    try {
      const s = await writer.upsertSweep({ name: 'remote', spec: {} });
      const r = await writer.upsertRun({ sweepId: s.id, key: 'k', parameters: {} });
      const client = createApiClient({ url: server.url, EventSource });
      const seen: (number | undefined)[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no update; saw ${JSON.stringify(seen)}`)),
          15_000,
        );
        const sub = client.progress.subscribe(
          { sweep: 'remote' },
          {
            onData(snap) {
              seen.push(snap.runs[0]?.last.fid);
              if (seen.length === 1)
                void writer.recordMetrics(r.id, 1, [{ name: 'fid', value: 7 }]);
              if (snap.runs[0]?.last.fid === 7) {
                clearTimeout(timer);
                sub.unsubscribe();
                resolve();
              }
            },
            onError: reject,
          },
        );
      });
      assert.equal(seen[0], undefined);
      const best = await client.runs.best.query({ sweep: 'remote', metric: 'fid' });
      assert.equal(best?.value, 7);
    } finally {
      await server.close();
      await served.close();
      await writer.close();
      await created.drop();
    }
  });
});
