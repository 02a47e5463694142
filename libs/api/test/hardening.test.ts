// Hostile and malformed requests: each gets a clear answer and changes nothing.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { TRPCClientError } from '@trpc/client';
import { openStore, type Store } from '@fidlab/store';
import { createApiClient, createApiServer, type ApiClient, type ApiServer } from '../src/index.js';

const spec = {
  name: 'good',
  data: { root: 'data/x', size: 64 },
  parameters: { lr: { values: [1e-4, 2e-4] } },
  fixed: { model: 'unet', epochs: 1, epochs_decay: 0 },
  evaluate: { metrics: [{ name: 'fid', kind: 'fid', extractor: 'facerec' }] },
  select: { metric: 'fid' },
};

function rejected(code: string, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TRPCClientError, String(e));
    assert.equal((e.data as { code?: string }).code, code, e.message);
    assert.match(e.message, message);
    return true;
  };
}

/** A raw POST: the status and body, without tRPC's client in the way. */
function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('api: bad requests', () => {
  let store: Store;
  let server: ApiServer;
  let token: string;
  let client: ApiClient;

  before(async () => {
    store = await openStore({ url: 'memory:' });
    token = await store.createToken('admin');
    server = await createApiServer({ store, port: 0, maxBodyBytes: 64 * 1024 });
    client = createApiClient({ url: server.url, token });
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  it('a body over the limit gets 413 from its Content-Length, before it is read', async () => {
    // Only the header claims 100 MB; the server must answer without waiting for the bytes.
    const r = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/trpc/sweeps.create`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(100 * 1024 * 1024),
          authorization: `Bearer ${token}`,
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{"name":');
    });
    assert.equal(r, 413);
    // Chunked (no Content-Length): cut off while reading, also 413.
    const big = Buffer.alloc(200 * 1024, 0x20);
    const chunked = await new Promise<number>((resolve) => {
      const req = request(`${server.url}/trpc/sweeps.create`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
          authorization: `Bearer ${token}`,
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(413)); // the server may close first
      req.end(big);
    });
    assert.equal(chunked, 413);
    assert.deepEqual(await store.listSweeps(), []);
  });

  it('malformed JSON and wrong shapes are BAD_REQUEST naming the problem', async () => {
    const r = await post(`${server.url}/trpc/sweeps.create`, '{"name": ', {
      authorization: `Bearer ${token}`,
    });
    assert.equal(r.status, 400);
    assert.doesNotMatch(r.body, /\n\s+at /, 'no stack trace');
    const shape = await post(`${server.url}/trpc/sweeps.create`, '{"name": 5}', {
      authorization: `Bearer ${token}`,
    });
    assert.equal(shape.status, 400);
  });

  it('sweeps.create validates with the sweep file schema: names, run keys, parameters', async () => {
    await assert.rejects(
      client.sweeps.create.mutate({
        name: '../../../tmp/x',
        spec: { ...spec, name: '../../../tmp/x' },
      }),
      rejected('BAD_REQUEST', /spec: name: use letters, digits/),
    );
    await assert.rejects(
      client.sweeps.create.mutate({
        name: 'good',
        spec,
        runs: [{ key: '../escape', parameters: { lr: 1e-4 } }],
      }),
      rejected('BAD_REQUEST', /runs\[0\]\.key: "\.\.\/escape" is not a run key/),
    );
    await assert.rejects(
      client.sweeps.create.mutate({
        name: 'good',
        spec,
        runs: [{ parameters: { model: 'nosuch', epochs: -5 } }],
      }),
      rejected('BAD_REQUEST', /runs\[0\]\.parameters\.model: "nosuch"/),
    );
    await assert.rejects(
      client.sweeps.create.mutate({
        name: 'good',
        spec: { ...spec, fixed: { model: 'unet', epochs: -5 } },
      }),
      rejected('BAD_REQUEST', /spec: fixed\.epochs/),
    );
    await assert.rejects(
      client.sweeps.create.mutate({ name: 'other', spec }),
      rejected('BAD_REQUEST', /name "other" differs from spec\.name "good"/),
    );
    assert.deepEqual(await store.listSweeps(), [], 'nothing stored');
  });

  it('a changed spec under a stored name is refused naming the difference, or replaced on request', async () => {
    await client.sweeps.create.mutate({ name: 'good', spec });
    const changed = { ...spec, fixed: { ...spec.fixed, epochs: 3 } };
    await assert.rejects(
      client.sweeps.create.mutate({ name: 'good', spec: changed }),
      rejected(
        'CONFLICT',
        /sweep good is already stored with a different spec \(differs at fixed\.epochs\)/,
      ),
    );
    const r = await client.sweeps.create.mutate({ name: 'good', spec: changed, replace: true });
    assert.equal((r.sweep.spec as { fixed: { epochs: number } }).fixed.epochs, 3);
  });

  it('a wrong token is "invalid or revoked"; revocation through the server is immediate', async () => {
    const wrong = createApiClient({ url: server.url, token: 'fidlab_nope' });
    await assert.rejects(
      wrong.sweeps.list.query(),
      rejected('UNAUTHORIZED', /invalid or revoked token/),
    );
    const { token: t2 } = await client.tokens.create.mutate({ name: 'second' });
    const second = createApiClient({ url: server.url, token: t2 });
    assert.ok(Array.isArray(await second.sweeps.list.query())); // now cached as valid
    assert.deepEqual(
      (await client.tokens.list.query()).map((t) => [t.name, t.revoked]),
      [
        ['admin', false],
        ['second', false],
      ],
    );
    await client.tokens.revoke.mutate({ name: 'second' });
    await assert.rejects(
      second.sweeps.list.query(),
      rejected('UNAUTHORIZED', /invalid or revoked token/),
    );
    await assert.rejects(
      client.tokens.revoke.mutate({ name: 'second' }),
      rejected('NOT_FOUND', /no active token named 'second'/),
    );
  });
});
