import { openStore } from '@fidlab/store';
const dir = process.argv[2];
const s = await openStore({ url: 'pglite:' + dir });
const sw = await s.upsertSweep({ name: 'demo', spec: { a: 1 } });
await s.createRuns(sw.id, [{ parameters: { lr: 1 } }, { parameters: { lr: 2 } }]);
console.log((await s.listRuns({ sweep: 'demo' })).length);
await s.close();
