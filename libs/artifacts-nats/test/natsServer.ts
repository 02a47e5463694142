// A nats-server of the test's own (JetStream, file storage in a temp dir, a free loopback port),
// with a max payload and store size that a 100 MB object needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export const NATS_SERVER = process.env.FIDLAB_NATS_SERVER ?? '/usr/sbin/nats-server';

export function natsServerAvailable(): boolean {
  return existsSync(NATS_SERVER);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface OwnNatsServer {
  url: string;
  connect(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export async function startNatsServer(): Promise<OwnNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-nats-obj-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [
      `listen: 127.0.0.1:${port}`,
      'max_payload: 8MB',
      `jetstream { store_dir: "${join(dir, 'js')}", max_file_store: 4GB, max_memory_store: 256MB }`,
    ].join('\n'),
  );
  const proc: ChildProcess = spawn(NATS_SERVER, ['-c', conf], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const nc = await connect({ servers: url, reconnect: false });
      await nc.close();
      break;
    } catch (err) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        proc.kill('SIGKILL');
        throw new Error(`nats-server on ${url} did not start`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    connect: () => connect({ servers: url }),
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
