// A seeded store for the browser tests: a small study with samples, a 200-epoch x 12-metric run,
// a 1,000-run sweep, and a sweep left running for the live test. Deterministic (seeded rng).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import { createRng, openArtifactStore, type ArtifactStore } from '@fidlab/base';
import type { MetricRow, Store } from '@fidlab/store';

/** A solid-colour RGB PNG, written by hand (8-bit, no filter), so no image library is needed. */
export function png(size: number, rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const row = Buffer.alloc(1 + size * 3);
  for (let x = 0; x < size; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const STUDY_SPEC = {
  name: 'cufs-study',
  select: { metric: 'fid_inception', goal: 'min' },
  evaluate: {
    metrics: [
      { name: 'fid_inception', kind: 'fid', extractor: 'inception', bootstrap: 50 },
      { name: 'fid_vgg_fc6', kind: 'fid', extractor: 'vggface:fc6' },
      { name: 'kid_inception', kind: 'kid', extractor: 'inception' },
      { name: 'rank_facerec', kind: 'rank-k', extractor: 'facerec', k: [1, 5] },
    ],
  },
  fixed: { epochs: 12, epochs_decay: 0, direction: 'photo2sketch' },
};

export interface Seeded {
  study: { runs: { id: number; key: string }[]; epochs: number; samplesRun: number };
  /** The artifact store holding the second study run's samples (epoch 12). */
  artifacts: { store: ArtifactStore; run: { id: number; key: string } };
  big: { runId: number; key: string; epochs: number; metrics: number };
  wide: { name: string; runs: number };
  live: { name: string; runIds: number[] };
  outsideFile: string;
}

function curve(rng: () => number, epoch: number, base: number, scale: number): number {
  return base + scale * Math.exp(-epoch / 5) + (rng() - 0.5) * scale * 0.1;
}

export async function seed(store: Store, root: string): Promise<Seeded> {
  const rng = createRng(7);
  const rand = () => rng.next();
  const protocol = { protocol: 2 };

  // The study: 2 models x 3 seeds, 12 epochs, four metrics (one with a CI), losses, samples.
  const study = await store.upsertSweep({ name: 'cufs-study', spec: STUDY_SPEC, status: 'done' });
  await store.claimSweepOwner('cufs-study', 'alice');
  await store.setTags({ sweep: 'cufs-study' }, ['cufs', 'baseline']);
  const runs: { id: number; key: string }[] = [];
  const epochRows = [];
  const metricRows: MetricRow[] = [];

  for (const model of ['unet', 'unet-noskip']) {
    for (const seedValue of [1, 2, 3]) {
      const key = `${model}-s${seedValue}`;
      const runDir = join(root, 'runs', 'cufs-study', key);
      const run = await store.upsertRun({
        sweepId: study.id,
        key,
        parameters: { model, lr: model === 'unet' ? 2e-4 : 1e-4, seed: seedValue },
        runDir,
      });
      await store.setRunStatus(run.id, 'running');
      runs.push({ id: run.id, key });
      const off = model === 'unet' ? 0 : 8;
      for (let e = 1; e <= 12; e++) {
        const ckpt = join(runDir, `epoch-${String(e).padStart(4, '0')}`);
        mkdirSync(ckpt, { recursive: true });
        epochRows.push({
          runId: run.id,
          epoch: e,
          losses: {
            G_GAN: 1 + rand(),
            G_L1: 40 * Math.exp(-e / 6) + rand(),
            D: 0.5 + rand() * 0.2,
          },
          checkpoint: { uri: ckpt, sha256: null, bytes: 1000 },
          seconds: 10,
        });
        const fid = curve(rand, e, 40 + off + seedValue, 60);
        metricRows.push(
          {
            runId: run.id,
            epoch: e,
            name: 'fid_inception',
            value: fid,
            ciLow: fid - 3 - rand(),
            ciHigh: fid + 3 + rand(),
            extractor: 'inception',
            extra: protocol,
          },
          {
            runId: run.id,
            epoch: e,
            name: 'fid_vgg_fc6',
            value: 0.8 * fid + 20 * rand(),
            extractor: 'vggface:fc6',
            extra: protocol,
          },
          {
            runId: run.id,
            epoch: e,
            name: 'kid_inception',
            value: fid / 1000 + rand() * 0.005,
            extractor: 'inception',
            extra: protocol,
          },
          {
            runId: run.id,
            epoch: e,
            name: 'rank_facerec',
            value: Math.min(1, 0.3 + e * 0.04 + rand() * 0.05),
            extractor: 'facerec',
            extra: protocol,
          },
        );
      }
      await store.setRunStatus(run.id, 'done');
    }
  }
  await store.recordEpochRows(epochRows);
  await store.recordMetricRows(metricRows);
  await store.setTags({ runId: runs[0].id }, ['keep']);

  // Samples of the first run, epochs 6 and 12: input, generated, ground truth per image.
  const samplesRun = runs[0];
  const runDir = join(root, 'runs', 'cufs-study', samplesRun.key);
  for (const e of [6, 12]) {
    const dir = join(runDir, `epoch-${String(e).padStart(4, '0')}`, 'samples');
    mkdirSync(dir, { recursive: true });
    for (let k = 0; k < 3; k++) {
      const n = String(k).padStart(3, '0');
      writeFileSync(join(dir, `sample-${n}-input.png`), png(32, [200, 160 - k * 30, 120]));
      writeFileSync(join(dir, `sample-${n}.png`), png(32, [e * 15, e * 15, e * 15]));
      writeFileSync(join(dir, `sample-${n}-truth.png`), png(32, [40 + k * 60, 40, 40]));
    }
  }
  // A file outside the run directory, and a symlink to it from inside.
  const outsideFile = join(root, 'secret.txt');
  writeFileSync(outsideFile, 'not for the web\n');
  symlinkSync(outsideFile, join(runDir, 'epoch-0012', 'samples', 'sample-009.png'));

  // Samples of the second run kept in an artifact store (what an evaluator of a fetched checkpoint
  // uploads), epoch 12 only: the server reads them through artifactSamples.
  const artifacts = await openArtifactStore(join(root, 'artifacts'));
  const made = join(root, 'artifact-samples');
  mkdirSync(made, { recursive: true });
  for (let k = 0; k < 3; k++) {
    const n = String(k).padStart(3, '0');
    writeFileSync(join(made, `sample-${n}-input.png`), png(32, [120, 200, 160 - k * 30]));
    writeFileSync(join(made, `sample-${n}.png`), png(32, [30, 90 + k * 40, 200]));
    writeFileSync(join(made, `sample-${n}-truth.png`), png(32, [40, 40 + k * 60, 40]));
  }
  const artifactRun = runs[1];
  await store.recordSamples(
    artifactRun.id,
    12,
    await artifacts.putFolder(
      `samples/cufs-study/${artifactRun.key}/epoch-0012-0123456789ab`,
      made,
    ),
  );

  // A run of 200 epochs x 12 metrics.
  const bigSweep = await store.upsertSweep({ name: 'long-run', spec: {}, status: 'done' });
  const big = await store.upsertRun({
    sweepId: bigSweep.id,
    key: 'long',
    parameters: { model: 'unet' },
  });
  const bigRows: MetricRow[] = [];
  for (let e = 1; e <= 200; e++)
    for (let m = 0; m < 12; m++)
      bigRows.push({
        runId: big.id,
        epoch: e,
        name: `metric_${String(m).padStart(2, '0')}`,
        value: curve(rand, e / 10, 10 + m, 50),
        ...(m === 0 ? { ciLow: 9, ciHigh: 80 } : {}),
        extra: protocol,
      });
  await store.recordMetricRows(bigRows);
  await store.recordEpochRows(
    Array.from({ length: 200 }, (_, k) => ({
      runId: big.id,
      epoch: k + 1,
      losses: { G_L1: 50 / (k + 1) },
    })),
  );

  // A sweep of 1,000 runs with 12 metrics each (3 epochs).
  const wide = await store.upsertSweep({ name: 'wide-sweep', spec: {}, status: 'done' });
  const wideRuns = await store.createRuns(
    wide.id,
    Array.from({ length: 1000 }, (_, k) => ({
      key: `t${String(k).padStart(4, '0')}`,
      parameters: { lr: 1e-4 * (1 + (k % 10)), seed: k },
    })),
  );
  const wideRows: MetricRow[] = [];
  for (const r of wideRuns)
    for (let e = 1; e <= 3; e++)
      for (let m = 0; m < 12; m++)
        wideRows.push({
          runId: r.id,
          epoch: e,
          name: `m${String(m).padStart(2, '0')}`,
          value: rand() * 100,
        });
  await store.recordMetricRows(wideRows);
  await store.prisma.run.updateMany({
    where: { sweepId: { in: [wide.id, bigSweep.id] } },
    data: { status: 'done', startedAt: new Date(), finishedAt: new Date() },
  });

  // A sweep that is running: the live test records its epochs while the page is open.
  const live = await store.upsertSweep({
    name: 'live-sweep',
    spec: { fixed: { epochs: 4 } },
    status: 'running',
  });
  await store.claimSweepOwner('live-sweep', 'bob');
  const liveRuns = await store.createRuns(live.id, [
    { key: 'a', parameters: { seed: 1 } },
    { key: 'b', parameters: { seed: 2 } },
  ]);
  for (const r of liveRuns) await store.setRunStatus(r.id, 'running');

  await store.registerWorker({
    id: 'gpu-box-1',
    hostname: 'gpu-box',
    pid: 4242,
    status: 'busy',
    info: { run: 'cufs-study/unet-s1' },
  });
  return {
    study: { runs, epochs: 12, samplesRun: samplesRun.id },
    artifacts: { store: artifacts, run: artifactRun },
    big: { runId: big.id, key: 'long', epochs: 200, metrics: 12 },
    wide: { name: 'wide-sweep', runs: 1000 },
    live: { name: 'live-sweep', runIds: liveRuns.map((r) => r.id) },
    outsideFile,
  };
}
