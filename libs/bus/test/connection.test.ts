// Where connection options come from (flags, then FIDLAB_NATS_* env, then the config file, then
// credentials written into the URL) and what is logged of them (never a secret).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { describeConnection, redactUrl, resolveBusOptions } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-conn-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('flags win over the environment, the environment over the config file', () => {
  const file = join(dir, 'nats.json');
  writeFileSync(
    file,
    JSON.stringify({ servers: ['nats://a:4222'], user: 'fu', pass: 'fp', tls: { ca: 'f.pem' } }),
  );
  const env = { FIDLAB_NATS_CONFIG: file, FIDLAB_NATS_PASS: 'ep' };
  assert.deepEqual(resolveBusOptions({}, env), {
    servers: ['nats://a:4222'],
    user: 'fu',
    pass: 'ep',
    token: undefined,
    creds: undefined,
    tls: { ca: 'f.pem', cert: undefined, key: undefined },
  });
  const o = resolveBusOptions({ nats: 'tls://b:1,tls://c:2', 'nats-pass': 'xp' }, env)!;
  assert.deepEqual(o.servers, ['tls://b:1', 'tls://c:2']);
  assert.equal(o.pass, 'xp');
  assert.equal(resolveBusOptions({}, {}), null);
});

test('credentials written into a URL are taken out of it and used, unless given otherwise', () => {
  const up = resolveBusOptions({ nats: 'nats://ann:s%40cret@h:4222' }, {})!;
  assert.deepEqual(
    [up.servers, up.user, up.pass, up.token],
    [['nats://h:4222'], 'ann', 's@cret', undefined],
  );
  const tok = resolveBusOptions({ nats: 'tls://t0ken@h:4222' }, {})!;
  assert.deepEqual([tok.servers, tok.user, tok.token], [['tls://h:4222'], undefined, 't0ken']);
  // A flag (or env, or file) wins over the URL.
  const flag = resolveBusOptions({ nats: 'nats://ann:old@h:4222', 'nats-pass': 'new' }, {})!;
  assert.equal(flag.pass, 'new');
  assert.equal(flag.user, 'ann');
});

test('what is logged names servers and the kind of credentials, never a secret', () => {
  assert.equal(redactUrl('nats://ann:pw@h:4222'), 'nats://ann:***@h:4222');
  assert.equal(redactUrl('nats://tok@h:4222'), 'nats://***@h:4222');
  const secrets = ['pw-1', 'tok-2'];
  for (const flags of [
    { nats: 'nats://ann:pw-1@h:4222' },
    { nats: 'nats://tok-2@h:4222' },
    { nats: 'nats://h:4222', 'nats-token': 'tok-2' },
    { nats: 'tls://h:4222', 'nats-user': 'ann', 'nats-pass': 'pw-1', 'nats-ca': 'ca.pem' },
  ]) {
    const d = describeConnection(resolveBusOptions(flags, {})!);
    for (const s of secrets) assert.ok(!d.includes(s), d);
  }
  assert.equal(
    describeConnection(resolveBusOptions({ nats: 'tls://ann:pw-1@h:4222' }, {})!),
    'tls://h:4222 (user ann, TLS)',
  );
  assert.equal(
    describeConnection(resolveBusOptions({ nats: 'nats://h:1', 'nats-creds': '/x/u.creds' }, {})!),
    'nats://h:1 (creds file /x/u.creds)',
  );
});

test('a bad URL or a client certificate without its key is one clear error', () => {
  assert.throws(
    () => resolveBusOptions({ nats: 'http://ann:pw-1@h:80' }, {}),
    (e: Error) =>
      /'http:\/\/h:80' is not a NATS URL/.test(e.message) && !e.message.includes('pw-1'),
  );
  assert.throws(
    () => resolveBusOptions({ nats: 'nats://h:1', 'nats-cert': 'c.pem' }, {}),
    /--nats-cert and --nats-key go together/,
  );
});
