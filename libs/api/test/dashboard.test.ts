// What the dashboard needs from the API server: its history routes answered with the app, run
// files confined to the run directory, owners, tags and signed notes (changes need a token).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TRPCClientError } from '@trpc/client';
import { openArtifactStore } from '@fidlab/base';
import { openStore, type Store } from '@fidlab/store';
import {
  artifactSamples,
  createApiClient,
  createApiServer,
  isAppRoute,
  type ApiClient,
  type ApiServer,
} from '../src/index.js';

describe('dashboard routes, run files and annotations', () => {
  let root: string;
  let store: Store;
  let server: ApiServer;
  let authed: ApiClient;
  let anon: ApiClient;
  let runId: number;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'fidlab-api-dash-'));
    const dist = join(root, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(dist, 'assets', 'index-abc.js'), 'console.log(1)');
    store = await openStore({ url: 'memory:' });
    const s = await store.upsertSweep({ name: 'gen', spec: {} });
    const runDir = join(root, 'runs', 'gen', 'r1');
    const run = await store.upsertRun({ sweepId: s.id, key: 'r1', parameters: {}, runDir });
    runId = run.id;
    const samples = join(runDir, 'epoch-0002', 'samples');
    mkdirSync(samples, { recursive: true });
    for (const f of ['sample-000.png', 'sample-000-input.png', 'sample-000-truth.png'])
      writeFileSync(join(samples, f), 'png');
    writeFileSync(join(root, 'outside.png'), 'secret');
    symlinkSync(join(root, 'outside.png'), join(samples, 'sample-001.png'));
    await store.recordEpoch(run.id, {
      epoch: 2,
      losses: {},
      checkpoint: { uri: join(runDir, 'epoch-0002') },
    });
    const token = await store.createToken('carol');
    server = await createApiServer({ store, port: 0, dashboardDir: dist });
    authed = createApiClient({ url: server.url, token });
    anon = createApiClient({ url: server.url });
  });

  after(async () => {
    await server.close();
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers the app routes with index.html, assets by path, anything else 404', async () => {
    for (const p of ['/', '/sweeps/gen', '/runs/r1', '/compare?a=x&b=y', '/workers']) {
      const res = await fetch(server.url + p);
      assert.equal(res.status, 200, p);
      assert.match(await res.text(), /<title>app<\/title>/, p);
    }
    const js = await fetch(server.url + '/assets/index-abc.js');
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    for (const p of ['/nope', '/sweeps/a/b', '/assets/../../outside.png', '/%2e%2e/outside.png'])
      assert.equal((await fetch(server.url + p)).status, 404, p);
    assert.equal(isAppRoute('/runs/abc'), true);
    assert.equal(isAppRoute('/trpc'), false);
  });

  it("lists an epoch's samples by kind, without links that lead out of the run", async () => {
    const s = await authed.runs.samples.query({ id: runId });
    assert.deepEqual(s.epochs, [2]);
    assert.equal(s.epoch, 2);
    assert.deepEqual(
      s.files.map((f) => [f.index, f.kind, f.path]),
      [
        [0, 'input', 'epoch-0002/samples/sample-000-input.png'],
        [0, 'truth', 'epoch-0002/samples/sample-000-truth.png'],
        [0, 'generated', 'epoch-0002/samples/sample-000.png'],
      ],
    );
    const ok = await fetch(`${server.url}/files/runs/${runId}/${s.files[0].path}`, {
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(ok.status, 401, 'a bad token reads nothing');
  });

  it('lists and serves samples kept in an artifact store, verified; a tampered copy is not served', async () => {
    const artifacts = await openArtifactStore(join(root, 'artifacts'));
    const made = join(root, 'made-samples');
    mkdirSync(made, { recursive: true });
    writeFileSync(join(made, 'sample-000.png'), 'generated 0');
    writeFileSync(join(made, 'sample-000-truth.png'), 'truth 0');
    const ref = await artifacts.putFolder('samples/gen/r1/epoch-0003-abc', made);
    await store.recordEpoch(runId, {
      epoch: 3,
      losses: {},
      checkpoint: { uri: artifacts.backend.uri('checkpoints/gen/r1/epoch-0003-abc/') },
    });
    await store.recordSamples(runId, 3, ref);
    const cache = join(root, 'samples-cache');
    const withSamples = await createApiServer({
      store,
      port: 0,
      samples: artifactSamples(artifacts, cache),
    });
    try {
      const token = await store.createToken('samples');
      const client = createApiClient({ url: withSamples.url, token });
      const s = await client.runs.samples.query({ id: runId });
      assert.deepEqual(s.epochs, [2, 3]);
      assert.equal(s.epoch, 3);
      assert.deepEqual(
        s.files.map((f) => [f.index, f.kind, f.path]),
        [
          [0, 'truth', '.artifact-samples/3/sample-000-truth.png'],
          [0, 'generated', '.artifact-samples/3/sample-000.png'],
        ],
      );
      const get = (path: string) =>
        fetch(`${withSamples.url}/files/runs/${runId}/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
      const res = await get(s.files[1].path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.equal(await res.text(), 'generated 0');
      for (const p of ['.artifact-samples/3/../2/x.png', '.artifact-samples/4/sample-000.png'])
        assert.equal((await get(p)).status, 404, p);
      // The local-samples epoch is still listed from the run directory.
      const two = await client.runs.samples.query({ id: runId, epoch: 2 });
      assert.equal(two.files[0].path, 'epoch-0002/samples/sample-000-input.png');
      // A tampered artifact: the fresh cache cannot verify it, so nothing is listed or served.
      writeFileSync(join(root, 'artifacts', 'samples/gen/r1/epoch-0003-abc/sample-000.png'), 'x');
      rmSync(cache, { recursive: true, force: true });
      const tampered = await client.runs.samples.query({ id: runId, epoch: 3 });
      assert.deepEqual(tampered.files, []);
      assert.equal((await get(s.files[1].path)).status, 404);
      // A server without a sample source lists only run-directory samples.
      assert.deepEqual((await authed.runs.samples.query({ id: runId })).epochs, [2]);
    } finally {
      await withSamples.close();
    }
  });

  it('records owners, tags and notes; changes need a token and are signed by it', async () => {
    assert.deepEqual(await anon.me.query(), { name: null, publicRead: false });
    assert.deepEqual(await authed.me.query(), { name: 'carol', publicRead: false });
    await assert.rejects(
      anon.notes.add.mutate({ sweep: 'gen', text: 'hi' }),
      (e: unknown) => e instanceof TRPCClientError && e.data?.code === 'UNAUTHORIZED',
    );
    await authed.sweeps.create.mutate({
      name: 'by-carol',
      spec: {
        name: 'by-carol',
        data: { root: 'data/x', size: 64 },
        fixed: { model: 'unet', epochs: 1, epochs_decay: 0 },
        evaluate: { metrics: [{ name: 'fid', kind: 'fid', extractor: 'facerec' }] },
        select: { metric: 'fid' },
      },
    });
    assert.equal(
      await store.claimSweepOwner('by-carol', 'dave'),
      'carol',
      'first launcher keeps it',
    );
    assert.deepEqual(await authed.notes.setTags.mutate({ sweep: 'gen', tags: ['b', 'a', 'b'] }), [
      'a',
      'b',
    ]);
    await assert.rejects(
      authed.notes.setTags.mutate({ run: runId, tags: ['has space'] }),
      /tag "has space" must be 1-64 letters/,
    );
    await authed.notes.setTags.mutate({ run: runId, tags: ['keep'] });
    const note = await authed.notes.add.mutate({ run: runId, text: ' epoch 2 looks right ' });
    assert.equal(note.author, 'carol');
    assert.equal(note.text, 'epoch 2 looks right');
    const run = await authed.notes.get.query({ run: runId });
    assert.deepEqual(run.tags, ['keep']);
    assert.deepEqual(
      run.notes.map((n) => n.text),
      ['epoch 2 looks right'],
    );
    assert.deepEqual(
      (await authed.notes.get.query({ sweep: 'gen' })).notes,
      [],
      'run notes stay on the run',
    );
    const list = await authed.sweeps.list.query();
    assert.deepEqual(
      list.map((s) => [s.name, s.owner, s.tags]),
      [
        ['gen', null, ['a', 'b']],
        ['by-carol', 'carol', []],
      ],
    );
    const got = await authed.sweeps.get.query({ name: 'gen' });
    assert.deepEqual(got.runs[0].tags, ['keep']);
  });
});
