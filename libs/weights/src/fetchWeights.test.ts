import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isFidlabError } from '@fidlab/base';
import {
  WEIGHTS_SOURCES,
  fetchWeights,
  resolveWeights,
  sha256Problem,
  type WeightsSource,
} from './fetchWeights.js';

const root = mkdtempSync(join(tmpdir(), 'fidlab-weights-fetch-'));
const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
const sha = createHash('sha256').update(payload).digest('hex');
let server: Server;
let base = '';
let requests = 0;

before(async () => {
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/w.pth') {
      res.writeHead(200, { 'content-length': String(payload.length) });
      // Two chunks, so progress is reported more than once.
      res.write(payload.subarray(0, 100_000));
      setTimeout(() => res.end(payload.subarray(100_000)), 5);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

const spec = (over: Partial<WeightsSource>): WeightsSource => ({
  name: 'test',
  file: 'w.pth',
  url: `${base}/w.pth`,
  description: 'test weights',
  ...over,
});

async function code(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(isFidlabError(e), `expected FidlabError, got ${String(e)}`);
    return { code: e.code, message: e.message };
  }
  return assert.fail('expected a rejection');
}

describe('fetchWeights', () => {
  it('downloads, reports progress, verifies the sha256 and renames into place', async () => {
    const dir = join(root, 'ok');
    const seen: [number, number | undefined][] = [];
    const r = await fetchWeights(spec({ sha256: sha }), {
      dir,
      onProgress: (got, total) => seen.push([got, total]),
    });
    assert.deepEqual(r, {
      path: join(dir, 'w.pth'),
      sha256: sha,
      bytes: payload.length,
      downloaded: true,
    });
    assert.deepEqual(readFileSync(r.path), payload);
    assert.deepEqual(seen[0], [0, payload.length]);
    assert.deepEqual(seen.at(-1), [payload.length, payload.length]);
    assert.ok(seen.length >= 3);
    assert.deepEqual(readdirSync(dir).sort(), ['hashes.json', 'w.pth'], 'no temporary file left');

    const before = requests;
    const again = await fetchWeights(spec({ sha256: sha }), { dir });
    assert.equal(again.downloaded, false);
    assert.equal(requests, before, 'a verified file is not downloaded again');
  });

  it('a wrong hash (full or name prefix) leaves nothing behind', async () => {
    for (const [i, over] of [{ sha256: '0'.repeat(64) }, { sha256Prefix: 'deadbeef' }].entries()) {
      const dir = join(root, `bad${i}`);
      const e = await code(fetchWeights(spec(over), { dir }));
      assert.equal(e.code, ErrorCode.BAD_FILE_FORMAT);
      assert.match(
        e.message,
        new RegExp(`downloaded w\\.pth from .* its sha256 ${sha}.*; not saved`),
      );
      assert.deepEqual(readdirSync(dir), []);
    }
  });

  it('the right name prefix alone is accepted', async () => {
    const r = await fetchWeights(spec({ sha256Prefix: sha.slice(0, 8) }), { dir: join(root, 'p') });
    assert.equal(r.sha256, sha);
  });

  it('without a published hash the first download is recorded and later checked', async () => {
    const dir = join(root, 'tofu');
    const s = spec({});
    await fetchWeights(s, { dir });
    assert.equal(readFileSync(join(dir, 'w.pth.sha256'), 'utf8'), `${sha}  w.pth\n`);
    writeFileSync(join(dir, 'w.pth'), 'tampered');
    const e = await code(resolveWeights(s, undefined, { dir }));
    assert.equal(e.code, ErrorCode.BAD_FILE_FORMAT);
    assert.match(e.message, /was recorded when it was first fetched.*fidlab weights fetch test/);
  });

  it('offline: one line naming the file, the URL and where to put a manual download', async () => {
    // A port nothing listens on stands for "no network" (the real URL fails the same way here).
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const dir = join(root, 'offline');
    const url = `http://127.0.0.1:${port}/pt_inception-2015-12-05-6726825d.pth`;
    const e = await code(fetchWeights({ ...WEIGHTS_SOURCES.inception, url }, { dir }));
    assert.equal(e.code, ErrorCode.FILE_NOT_FOUND);
    assert.ok(!e.message.includes('\n'));
    assert.match(
      e.message,
      /^cannot download pt_inception-2015-12-05-6726825d\.pth from http:\/\/127/,
    );
    assert.match(e.message, /ECONNREFUSED/);
    assert.ok(
      e.message.includes(`save it as ${join(dir, 'pt_inception-2015-12-05-6726825d.pth')}`),
    );
    assert.ok(!existsSync(join(dir, 'pt_inception-2015-12-05-6726825d.pth')));
  });

  it('HTTP errors are reported the same way', async () => {
    const e = await code(
      fetchWeights(spec({ url: `${base}/missing.pth` }), { dir: join(root, 'h') }),
    );
    assert.match(e.message, /cannot download w\.pth from .*missing\.pth \(HTTP 404 Not Found\)/);
  });
});

describe('resolveWeights', () => {
  it('an explicit path wins and is not hash-checked; a missing one is FILE_NOT_FOUND', async () => {
    const p = join(root, 'mine.pth');
    writeFileSync(p, 'x');
    assert.equal(await resolveWeights('inception', p), p);
    const e = await code(resolveWeights('inception', join(root, 'none.pth')));
    assert.equal(e.code, ErrorCode.FILE_NOT_FOUND);
    assert.match(e.message, /inception weights not found: .*none\.pth/);
  });

  it('a missing cache file says how to fetch it, the URL and the path', async () => {
    const dir = join(root, 'empty');
    const e = await code(resolveWeights('vggface', undefined, { dir }));
    assert.equal(e.code, ErrorCode.FILE_NOT_FOUND);
    assert.equal(
      e.message,
      `vggface weights not found at ${join(dir, 'vgg_face_dag.pth')}; run 'fidlab weights fetch vggface' ` +
        `or download ${WEIGHTS_SOURCES.vggface.url} by hand and save it as ${join(dir, 'vgg_face_dag.pth')} ` +
        '(or set FIDLAB_WEIGHTS to the folder holding vgg_face_dag.pth, or pass --weights PATH)',
    );
  });

  it('download: true fetches into the cache; a present file is verified and returned', async () => {
    const dir = join(root, 'resolve');
    const s = spec({ sha256: sha });
    const p = await resolveWeights(s, undefined, { dir, download: true });
    assert.equal(p, join(dir, 'w.pth'));
    assert.equal(await resolveWeights(s, undefined, { dir }), p);
    writeFileSync(p, 'corrupt');
    const e = await code(resolveWeights(s, undefined, { dir }));
    assert.match(
      e.message,
      /w\.pth: sha256 .*, expected .* delete it and run 'fidlab weights fetch test'/,
    );
  });

  it('unknown names list the known ones', async () => {
    const e = await code(resolveWeights('resnet'));
    assert.equal(e.code, ErrorCode.INVALID_CONFIG);
    assert.match(e.message, /unknown weights 'resnet' \(known: inception, vggface\)/);
  });

  it('sha256Problem: full hash, prefix, recorded hash', () => {
    const s = spec({ sha256Prefix: 'ab' });
    assert.equal(sha256Problem('ab12', s), null);
    assert.match(sha256Problem('cd12', s)!, /does not start with ab/);
    assert.match(sha256Problem('ab12', spec({}), 'ab13')!, /ab13 was recorded/);
  });
});
