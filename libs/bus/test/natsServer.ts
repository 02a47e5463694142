// A nats-server of the test's own (JetStream, file storage in a temp dir, a free loopback port),
// so a test can stop, kill and restart its broker. When no nats-server binary is installed the
// caller skips with one line, unless FIDLAB_REQUIRE_SERVICES=1 makes that a failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipOrFail } from '@fidlab/testing';

const CANDIDATES = [
  process.env.FIDLAB_NATS_SERVER,
  '/usr/sbin/nats-server',
  '/usr/bin/nats-server',
];

export function natsServerBinary(): string | null {
  for (const c of CANDIDATES) if (c && existsSync(c)) return c;
  return null;
}

/** A skip reason, or null when a nats-server is available (throws if required and absent). */
export function natsSkipReason(): string | null {
  if (natsServerBinary()) return null;
  return skipOrFail('nats-server not installed (apt-get install nats-server)');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = tcpConnect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class TestNatsServer {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(extraArgs: string[] = []): Promise<TestNatsServer> {
    const s = new TestNatsServer(
      await freePort(),
      mkdtempSync(join(tmpdir(), 'fidlab-nats-')),
      extraArgs,
    );
    await s.up();
    return s;
  }

  async up(): Promise<void> {
    const bin = natsServerBinary();
    if (!bin) throw new Error('nats-server not installed');
    this.proc = spawn(
      bin,
      ['-js', '-sd', this.dir, '-a', '127.0.0.1', '-p', String(this.port), ...this.extraArgs],
      { stdio: ['ignore', 'ignore', openSync(join(this.dir, 'server.log'), 'a')] },
    );
    await waitForPort(this.port);
  }

  /** Stops the broker (SIGTERM, the way an operator restarts it) and waits for it to exit. */
  async down(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
    this.proc = null;
  }

  async restart(): Promise<void> {
    await this.down();
    await this.up();
  }

  async stop(): Promise<void> {
    await this.down('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
