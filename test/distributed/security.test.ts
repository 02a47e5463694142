// Secured brokers, on real servers: nats-servers of the test's own that require a user and
// password, a token, an nkey (signed with the seed of a `.creds` file), or TLS with a CA and server
// certificate made here with openssl. For each, `fidlab worker` and `fidlab run --nats` connect
// with the right credentials (the run completes over the secured broker), and fail with one clear
// line (exit 1, naming the server, no stack) with wrong ones; no secret appears in any output line
// of any process, nor in the registry.
//
// The nkey server runs without an operator (nsc, which makes operator/account JWTs, is not
// installed): it checks the nonce signature made with the .creds file's seed; the file's JWT is
// parsed by the client and sent, but such a server does not verify it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import {
  busSettings,
  connectBus,
  ensureTopology,
  listWorkers,
  type BusConnectionOptions,
} from '@fidlab/bus';
import { createTestDatabase, type TestDatabase } from '@fidlab/testing';
import {
  busEnv,
  servicesSkipReason,
  TEST_BUS,
  TestNatsServer,
  until,
  WorkerProcess,
} from './harness.js';

const skip = await servicesSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
const TOKEN = `tok-${randomBytes(9).toString('hex')}`;
const user = nkeys.createUser();
const SEED = new TextDecoder().decode(user.getSeed());
const other = nkeys.createUser();
const OTHER_SEED = new TextDecoder().decode(other.getSeed());
const SECRETS = [PASSWORD, TOKEN, SEED, OTHER_SEED, 'wrong-password', 'wrong-token'];

/** A `.creds` file as nsc writes it: a user JWT block, then the user's nkey seed block. */
function credsFile(seed: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = `${b64({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64({ sub: 'fidlab-test' })}.c2ln`;
  return `-----BEGIN NATS USER JWT-----
${jwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.

-----BEGIN USER NKEY SEED-----
${seed}
------END USER NKEY SEED------
`;
}

/** A one-trial fake sweep (2 epochs, evaluated each) and the tiny data set it names. */
function sweepFile(dir: string, name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
data:
  root: ${join(dir, 'data')}
  size: 32
  synth: { identities: 2, per_identity: 2, seed: 1, size: 32 }
method: grid
parameters:
  seed: { values: [1] }
fixed: { model: unet, direction: photo2sketch, epochs: 2, epochs_decay: 0 }
evaluate:
  every: 1
  split: test
  metrics: [{ name: fake_fid, kind: fid, extractor: facerec }]
select: { metric: fake_fid, goal: min }
`,
  );
  return file;
}

/** How a process is told to connect: extra flags and environment. */
interface Creds {
  args: string[];
  env?: NodeJS.ProcessEnv;
}

interface Case {
  name: string;
  /** nats-server config (authorization and/or tls blocks). */
  conf: (dir: string) => string;
  /** The test's own connection. */
  client: (url: string, dir: string) => Omit<BusConnectionOptions, 'servers'> & { url?: string };
  good: (url: string, dir: string) => Creds;
  bad: { why: RegExp; creds: (url: string, dir: string) => Creds }[];
  /** The URL scheme the processes use. */
  scheme: 'nats' | 'tls';
}

function tlsFiles(dir: string) {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem'].concat(
      ['-days', '2', '-subj', '/CN=fidlab test CA'],
    ),
  );
  run(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr'].concat([
      '-subj',
      '/CN=127.0.0.1',
    ]),
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'].concat([
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]),
  );
  // Another CA, which did not sign the server's certificate.
  run(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'other.key',
      '-out',
      'other.pem',
    ].concat(['-days', '2', '-subj', '/CN=another CA']),
  );
}

const CASES: Case[] = [
  {
    name: 'user and password (from a config file)',
    scheme: 'nats',
    conf: () => `authorization { user: fidlab, password: "${PASSWORD}" }`,
    client: () => ({ user: 'fidlab', pass: PASSWORD }),
    good: (url, dir) => {
      const f = join(dir, 'nats.json');
      writeFileSync(f, JSON.stringify({ servers: [url], user: 'fidlab', pass: PASSWORD }));
      return { args: ['--nats-config', f] };
    },
    bad: [
      // A flag wins over the file: the wrong password is the one used.
      {
        why: /Authorization Violation/,
        creds: (_url, dir) => ({
          args: ['--nats-config', join(dir, 'nats.json'), '--nats-pass', 'wrong-password'],
        }),
      },
      { why: /Authorization Violation/, creds: (url) => ({ args: ['--nats', url] }) },
    ],
  },
  {
    name: 'token (from the environment)',
    scheme: 'nats',
    conf: () => `authorization { token: "${TOKEN}" }`,
    client: () => ({ token: TOKEN }),
    good: (url) => ({ args: ['--nats', url], env: { FIDLAB_NATS_TOKEN: TOKEN } }),
    bad: [
      {
        why: /Authorization Violation/,
        creds: (url) => ({ args: ['--nats', url], env: { FIDLAB_NATS_TOKEN: 'wrong-token' } }),
      },
    ],
  },
  {
    name: 'nkey (a .creds file)',
    scheme: 'nats',
    conf: () => `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }`,
    client: (_url, dir) => ({ creds: join(dir, 'good.creds') }),
    good: (url, dir) => {
      writeFileSync(join(dir, 'good.creds'), credsFile(SEED), { mode: 0o600 });
      return { args: ['--nats', url, '--nats-creds', join(dir, 'good.creds')] };
    },
    bad: [
      {
        why: /Authorization Violation/,
        creds: (url, dir) => {
          writeFileSync(join(dir, 'other.creds'), credsFile(OTHER_SEED), { mode: 0o600 });
          return { args: ['--nats', url, '--nats-creds', join(dir, 'other.creds')] };
        },
      },
    ],
  },
  {
    name: 'TLS with a CA, user and password in the URL',
    scheme: 'tls',
    conf: (dir) => {
      tlsFiles(dir);
      return `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}" }
authorization { user: fidlab, password: "${PASSWORD}" }`;
    },
    client: (_url, dir) => ({ user: 'fidlab', pass: PASSWORD, tls: { ca: join(dir, 'ca.pem') } }),
    good: (url, dir) => ({
      args: [
        '--nats',
        url.replace('tls://', `tls://fidlab:${PASSWORD}@`),
        '--nats-ca',
        join(dir, 'ca.pem'),
      ],
    }),
    bad: [
      {
        // The server's certificate is not one the client can verify.
        why: /certificate/,
        creds: (url, dir) => ({
          args: [
            '--nats',
            url,
            '--nats-user',
            'fidlab',
            '--nats-pass',
            PASSWORD,
            '--nats-ca',
            join(dir, 'other.pem'),
          ],
        }),
      },
      {
        why: /Authorization Violation/,
        creds: (url, dir) => ({
          args: [
            '--nats',
            url,
            '--nats-user',
            'fidlab',
            '--nats-pass',
            'wrong-password',
            '--nats-ca',
            join(dir, 'ca.pem'),
          ],
        }),
      },
    ],
  },
];

describe('secured brokers', { skip: skip ?? false, concurrency: false }, () => {
  let db: TestDatabase;
  const cleanup: (() => Promise<unknown>)[] = [];
  /** Every process the suite started (their output lines are searched for secrets). */
  const procs: { who: string; p: WorkerProcess }[] = [];
  before(async () => {
    const t = await createTestDatabase({ prefix: 'fidlab_sec' });
    if (typeof t === 'string') throw new Error(t);
    db = t;
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    await db?.drop();
  });

  function fidlab(who: string, args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
    const p = new WorkerProcess(
      args,
      { ...busEnv(), FIDLAB_FAKE_EPOCH_MS: '100', ...env },
      'tools/dev-fidlab.ts',
    );
    cleanup.push(async () => {
      p.signal('SIGKILL');
      await p.exited;
    });
    procs.push({ who, p });
    return p;
  }

  for (const c of CASES)
    test(c.name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fidlab-sec-'));
      cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
      const confPath = join(dir, 'server.conf');
      writeFileSync(confPath, c.conf(dir));
      const nats = await TestNatsServer.start(['-c', confPath]);
      cleanup.push(() => nats.stop());
      const url = `${c.scheme}://127.0.0.1:${nats.port}`;
      const host = `127.0.0.1:${nats.port}`;
      const good = c.good(url, dir);

      // Right credentials: a worker registers and a sweep runs to the end through the broker.
      const sweep = `sec-${c.scheme}-${CASES.indexOf(c)}`;
      const worker = fidlab(
        `${c.name}: worker`,
        ['worker', ...good.args, '--db', db.url, '--fake', '--id', sweep],
        good.env,
      );
      await worker.waitFor(/^fidlab worker \S+ on \S+: NATS /);
      const nc = await connectBus({ servers: [url], ...c.client(url, dir) });
      cleanup.push(() => nc.close());
      const topology = await ensureTopology(nc, busSettings(TEST_BUS));
      await until('the worker registered', async () =>
        (await listWorkers(topology)).some((w) => w.id === sweep),
      );
      const run = fidlab(
        `${c.name}: run`,
        ['run', sweepFile(dir, sweep), ...good.args, '--db', db.url],
        good.env,
      );
      assert.equal(await run.exited, 0, run.lines.join('\n'));
      assert.ok(run.has(/^best overall: run \S+ epoch \d+ fake_fid=/), run.lines.join('\n'));
      // What the registry holds, raw: no secret in any entry.
      const kv = topology.workers;
      for await (const k of await kv.keys()) {
        const e = await kv.get(k);
        const text = e ? new TextDecoder().decode(e.value) : '';
        for (const s of SECRETS) assert.ok(!text.includes(s), `registry entry ${k} holds a secret`);
      }
      assert.equal(await worker.stop(), 0, worker.lines.join('\n'));

      // Wrong credentials: exit 1 with one line naming the server, and no stack.
      for (const [i, b] of c.bad.entries()) {
        const creds = b.creds(url, dir);
        // (`fidlab run` with the first wrong credentials of each case only: it costs a data set.)
        const cmds = [['worker', ...creds.args, '--db', db.url, '--fake']];
        if (i === 0) cmds.push(['run', sweepFile(dir, sweep), ...creds.args, '--db', db.url]);
        for (const cmd of cmds) {
          const p = fidlab(`${c.name}: bad ${i} ${cmd[0]}`, cmd, creds.env);
          const code = await p.exited;
          const text = p.lines.join('\n');
          assert.equal(code, 1, text);
          const errors = p.lines.filter((l) => /error/i.test(l));
          assert.equal(errors.length, 1, text);
          assert.match(
            errors[0],
            new RegExp(
              `^fidlab ${cmd[0]}: error: cannot connect to NATS at ${c.scheme}://${host.replace(/\./g, '\\.')} \\(`,
            ),
          );
          assert.match(errors[0], b.why);
          assert.ok(!p.lines.some((l) => /^\s+at /.test(l)), `no stack:\n${text}`);
        }
      }
    });

  test('no secret in any line any process printed', () => {
    assert.ok(procs.length >= 4 * CASES.length - 1, `${procs.length} processes ran`);
    let lines = 0;
    for (const { who, p } of procs)
      for (const line of p.lines) {
        lines++;
        for (const s of SECRETS) assert.ok(!line.includes(s), `${who} printed a secret: ${line}`);
      }
    assert.ok(lines > 50, `${lines} lines searched`);
  });
});
