import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, FidlabError, openArtifactStore, sha256OfFile } from '@fidlab/base';
import { skipOrFail } from '@fidlab/testing';
import { natsObjectFactory, NatsObjectBackend } from '../src/index.js';
import {
  natsServerAvailable,
  NATS_SERVER,
  startNatsServer,
  type OwnNatsServer,
} from './natsServer.js';

const skip = natsServerAvailable() ? false : skipOrFail(`${NATS_SERVER} not found`);
let server: OwnNatsServer;
let nc: NatsConnection;
const dir = mkdtempSync(join(tmpdir(), 'fidlab-nats-artifacts-'));

before(async () => {
  if (skip) return;
  server = await startNatsServer();
  nc = await server.connect();
});
after(async () => {
  await nc?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Rejects when `p` takes longer than `ms`: a stalled read fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} stalled (over ${ms} ms)`)), ms);
    }),
  ]);
}

test(
  'a 100 MB checkpoint round-trips through the NATS Object Store, verified',
  { skip },
  async () => {
    const store = await openArtifactStore('nats-obj://ckpt-test', {
      'nats-obj': natsObjectFactory(nc),
    });
    const src = join(dir, 'epoch-7');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'weights.bin'), randomBytes(100 * 1024 * 1024));
    writeFileSync(join(src, 'model.json'), '{"epoch":7}');
    const ref = await within(store.putFolder('runs/s/abc/epoch-7', src), 120_000, 'put of 100 MB');
    assert.equal(ref.uri, 'nats-obj://ckpt-test/runs/s/abc/epoch-7/');
    assert.equal(ref.bytes, 100 * 1024 * 1024 + 11);
    const out = await within(store.get(ref, join(dir, 'copy')), 120_000, 'get of 100 MB');
    assert.deepEqual(
      await sha256OfFile(join(out, 'weights.bin')),
      await sha256OfFile(join(src, 'weights.bin')),
    );
    assert.equal(readFileSync(join(out, 'model.json'), 'utf8'), '{"epoch":7}');
  },
);

test(
  'a replaced object is refused on read, naming the URI, expected and actual sha256',
  { skip },
  async () => {
    const backend = await NatsObjectBackend.open(nc, 'ckpt-test-2', { storage: 'memory' });
    const store = await openArtifactStore('nats-obj://ckpt-test-2', { 'nats-obj': () => backend });
    const a = join(dir, 'a.bin');
    writeFileSync(a, randomBytes(3 * 1024 * 1024));
    const ref = await store.putFile('features/a.npy', a);
    writeFileSync(a, randomBytes(1000));
    await backend.write('features/a.npy', a); // someone overwrote it
    await assert.rejects(store.get(ref, join(dir, 'a-copy.bin')), (e: FidlabError) => {
      assert.equal(e.code, ErrorCode.ARTIFACT_MISMATCH);
      assert.match(
        e.message,
        new RegExp(
          `nats-obj://ckpt-test-2/features/a\\.npy: sha256 mismatch \\(expected ${ref.sha256}, got [0-9a-f]{64}`,
        ),
      );
      return true;
    });
    for (const uri of [
      'nats-obj://ckpt-test-2/../x',
      'nats-obj://ckpt-test-2/%2e%2e%2fx',
      'nats-obj://ckpt-test-2//etc/passwd',
      'nats-obj://other/x',
    ])
      await assert.rejects(store.get({ ...ref, uri }, join(dir, 'never')), FidlabError, uri);
    await assert.rejects(store.putFile('../x', a), /artifact key '\.\.\/x'/);
    // NOT_FOUND (what a feature-cache miss relies on), not an empty file.
    await assert.rejects(
      store.get({ ...ref, uri: 'nats-obj://ckpt-test-2/missing' }, join(dir, 'm')),
      (e: FidlabError) =>
        e.code === ErrorCode.NOT_FOUND &&
        /nats-obj:\/\/ckpt-test-2\/missing: not found/.test(e.message),
    );
    rmSync(a);
  },
);

test(
  'a root with a prefix keeps its objects under it; two prefixes in one bucket share no key',
  { skip },
  async () => {
    const factories = { 'nats-obj': natsObjectFactory(nc, { storage: 'memory' }) };
    const teamA = await openArtifactStore('nats-obj://shared-bucket/team-a/', factories);
    const teamB = await openArtifactStore('nats-obj://shared-bucket/team-b', factories);
    const f = join(dir, 'p.bin');
    writeFileSync(f, 'team a');
    const a = await teamA.putFile('features/x.npy', f);
    assert.equal(a.uri, 'nats-obj://shared-bucket/team-a/features/x.npy');
    writeFileSync(f, 'team b!');
    const b = await teamB.putFile('features/x.npy', f);
    assert.equal(b.uri, 'nats-obj://shared-bucket/team-b/features/x.npy');
    assert.equal(readFileSync(await teamA.get(a, join(dir, 'pa')), 'utf8'), 'team a');
    assert.equal(readFileSync(await teamB.get(b, join(dir, 'pb')), 'utf8'), 'team b!');
    // The objects' names in the bucket carry the prefix.
    const whole = await NatsObjectBackend.open(nc, 'shared-bucket', { storage: 'memory' });
    await whole.read('team-a/features/x.npy', join(dir, 'pw'));
    assert.equal(readFileSync(join(dir, 'pw'), 'utf8'), 'team a');
    // A URI outside the root is not one of its artifacts, and a root that leaves is refused.
    await assert.rejects(teamA.get(b, join(dir, 'never')), FidlabError);
    await assert.rejects(
      openArtifactStore('nats-obj://shared-bucket/../x', factories),
      /artifact key '\.\.\/x'/,
    );
  },
);
