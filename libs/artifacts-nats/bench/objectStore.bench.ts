// Put/get times of 1, 2, 4, 16 and 100 MB files through the NATS Object Store (own nats-server),
// each beside a plain filesystem copy of the same file through the filesystem ArtifactStore
// (the reference, same run). Every get is verified (sha256) and bounded: a stall prints as such.
//   node --import tsx --conditions=@fidlab/source libs/artifacts-nats/bench/objectStore.bench.ts
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Objm } from '@nats-io/obj';
import { openArtifactStore, type ArtifactStore } from '@fidlab/base';
import { natsArtifactStore } from '../src/index.js';
import { startNatsServer } from '../test/natsServer.js';

const sizes = (process.env.SIZES_MB ?? '1,2,4,16,100').split(',').map(Number);
const STALL_MS = 120_000;
const dir = mkdtempSync(join(tmpdir(), 'fidlab-obj-bench-'));
const server = await startNatsServer();
const nc = await server.connect();

async function timed(p: () => Promise<unknown>): Promise<string> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('stall')), STALL_MS);
      }),
    ]);
    return ((performance.now() - t0) / 1000).toFixed(3);
  } catch (err) {
    return `FAILED (${(err as Error).message})`;
  } finally {
    clearTimeout(timer);
  }
}

try {
  const nats = await natsArtifactStore(nc, 'bench');
  const fs: ArtifactStore = await openArtifactStore(join(dir, 'fs-root'));
  const lib = await new Objm(nc).open('bench'); // the library's own get(), the reference
  console.log(
    '| MB | nats put s | nats get s (verified) | library get() s | fs put s | fs get s | get MB/s (nats) |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const mb of sizes) {
    const file = join(dir, `${mb}.bin`);
    writeFileSync(file, randomBytes(mb * 1024 * 1024));
    const key = `bench/${mb}.bin`;
    let ref = { uri: '', sha256: '', bytes: 0 };
    const nPut = await timed(async () => (ref = await nats.putFile(key, file)));
    const nGet = await timed(() => nats.get(ref, join(dir, `${mb}.nats-copy`)));
    const lGet = await timed(async () => {
      const r = (await lib.get(key))!;
      await pipeline(
        Readable.fromWeb(r.data as unknown as WebReadableStream<Uint8Array>),
        createWriteStream(join(dir, `${mb}.lib-copy`)),
      );
    });
    const fsRef = await fs.putFile(key, file);
    const fPut = await timed(() => fs.putFile(key, file));
    const fGet = await timed(() => fs.get(fsRef, join(dir, `${mb}.fs-copy`)));
    const rate = Number.isFinite(Number(nGet)) ? (mb / Number(nGet)).toFixed(1) : '-';
    console.log(`| ${mb} | ${nPut} | ${nGet} | ${lGet} | ${fPut} | ${fGet} | ${rate} |`);
    for (const suffix of ['bin', 'nats-copy', 'lib-copy', 'fs-copy'])
      rmSync(join(dir, `${mb}.${suffix}`), { force: true });
  }
} finally {
  await nc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
