import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  ArtifactStore,
  cachedFolder,
  FsBlobBackend,
  openArtifactStore,
  uriScheme,
  validateArtifactKey,
  type ArtifactRef,
} from './artifacts.js';
import { ErrorCode, FidlabError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-artifacts-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = join(dir, 'root');

function checkpointFolder(name: string): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'samples'), { recursive: true });
  writeFileSync(join(d, 'model.json'), '{"epoch":3}');
  writeFileSync(join(d, 'weights.bin'), randomBytes(70_000));
  writeFileSync(join(d, 'samples', 'sample-000.png'), randomBytes(100));
  return d;
}

test('a checkpoint folder and a file round-trip through the filesystem store', async () => {
  const store = await openArtifactStore(root);
  const src = checkpointFolder('ckpt');
  const ref = await store.putFolder('runs/s1/abc/epoch-3', src);
  assert.equal(ref.uri, pathToFileURL(join(root, 'runs/s1/abc/epoch-3')).href + '/');
  assert.equal(ref.bytes, 11 + 70_000 + 100);
  const out = await store.get(ref, join(dir, 'copy', 'epoch-3'));
  for (const f of ['model.json', 'weights.bin', 'samples/sample-000.png'])
    assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(src, f)), f);

  const fileRef = await store.putFile('features/x.npy', join(src, 'weights.bin'));
  await store.get(fileRef, join(dir, 'x.npy'));
  assert.deepEqual(readFileSync(join(dir, 'x.npy')), readFileSync(join(src, 'weights.bin')));
  // The same artifact by plain path (the default form of CheckpointRef.uri) resolves too.
  await store.get({ ...fileRef, uri: join(root, 'features/x.npy') }, join(dir, 'y.npy'));
  await store.verify(ref, dir);
});

test('a corrupted file is refused on read, naming the URI, expected and actual sha256', async () => {
  const store = new ArtifactStore(new FsBlobBackend(root));
  const src = checkpointFolder('ckpt2');
  const ref = await store.putFolder('runs/s1/def/epoch-1', src);
  writeFileSync(join(root, 'runs/s1/def/epoch-1/weights.bin'), randomBytes(70_000));
  const dest = join(dir, 'bad');
  await assert.rejects(store.get(ref, dest), (e: FidlabError) => {
    assert.equal(e.code, ErrorCode.ARTIFACT_MISMATCH);
    assert.match(
      e.message,
      /runs\/s1\/def\/epoch-1\/weights\.bin: sha256 mismatch \(expected [0-9a-f]{64}, got [0-9a-f]{64}/,
    );
    return true;
  });
  assert.equal(existsSync(dest), false, 'nothing left at the destination');

  const fileRef: ArtifactRef = await store.putFile('f.bin', join(src, 'model.json'));
  await assert.rejects(
    store.get({ ...fileRef, sha256: '0'.repeat(64) }, join(dir, 'f.bin')),
    /f\.bin: sha256 mismatch \(expected 0{64}, got /,
  );
});

test('no key leaves the artifact root', async () => {
  const store = new ArtifactStore(new FsBlobBackend(root));
  const file = join(checkpointFolder('ckpt3'), 'model.json');
  const bad = [
    '../x',
    'a/../../x',
    '/etc/passwd',
    'a//b',
    './a',
    'a\\..\\b',
    'C:/x',
    '%2e%2e/x',
    '',
  ];
  for (const key of bad) {
    assert.throws(() => validateArtifactKey(key), FidlabError, key);
    await assert.rejects(store.putFile(key, file), FidlabError, key);
  }
  const ref = { sha256: '0'.repeat(64), bytes: 0 };
  const badUris = [
    join(root, '..', 'outside.bin'),
    '/etc/passwd',
    pathToFileURL(join(root, 'x')).href.replace(/x$/, '%2e%2e/%2e%2e/etc/passwd'),
    pathToFileURL(join(root, 'x')).href.replace(/x$/, '..%2f..%2fetc%2fpasswd'),
    pathToFileURL(join(root, 'x')).href.replace(/x$/, '%252e%252e/x'),
    'nats-obj://bucket/key',
  ];
  for (const uri of badUris)
    await assert.rejects(store.get({ ...ref, uri }, join(dir, 'never')), FidlabError, uri);
  assert.equal(validateArtifactKey('runs/s-1/a_b/epoch-3.ckpt/'), 'runs/s-1/a_b/epoch-3.ckpt/');
});

test('an unknown scheme is refused with the known ones', async () => {
  await assert.rejects(openArtifactStore('s3://b/k'), /unknown scheme 's3' \(known: file/);
});

test('cachedFolder fills a folder once: concurrent callers share the fill, a copy is never replaced, a failed fill leaves nothing', async () => {
  const dest = join(dir, 'cache', 'abc');
  let fills = 0;
  const fill = async (tmp: string) => {
    fills++;
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, 'f'), String(fills));
  };
  const got = await Promise.all([cachedFolder(dest, fill), cachedFolder(dest, fill)]);
  assert.deepEqual(got, [dest, dest]);
  assert.equal(fills, 1);
  assert.equal(await cachedFolder(dest, fill), dest);
  assert.equal(fills, 1, 'an existing copy is used as it is');
  assert.equal(readFileSync(join(dest, 'f'), 'utf8'), '1');
  const bad = join(dir, 'cache', 'bad');
  await assert.rejects(
    cachedFolder(bad, async (tmp) => {
      mkdirSync(tmp, { recursive: true });
      throw new Error('fetch failed');
    }),
    /fetch failed/,
  );
  assert.deepEqual(readdirSync(join(dir, 'cache')).sort(), ['abc']);
});

test('uriScheme names a URI scheme, lower-cased, and none for a path', () => {
  assert.equal(uriScheme('NATS-OBJ://b/k'), 'nats-obj');
  assert.equal(uriScheme('file:///x'), 'file');
  for (const p of ['/x/y', 'c:/x', 'runs/a']) assert.equal(uriScheme(p), null, p);
});
