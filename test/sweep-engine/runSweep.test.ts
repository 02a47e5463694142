import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isFidlabError } from '@fidlab/base';
import { selectBackend } from '@fidlab/models';
import { openStore, type Store } from '@fidlab/store';
import {
  ArtifactCheckpointStore,
  buildTrialJob,
  expandTrials,
  parseSweepText,
  resolveMetrics,
  runSweep,
  runTrialJob,
  type Claim,
  type JobContext,
} from '@fidlab/experiments';
import { openArtifactStore } from '@fidlab/base';
import { tinySweepText, type TinySweepOptions } from '@fidlab/testing';

// One real sweep end to end on tiny synthetic data: training (the fast CPU path), evaluation with
// a real extractor, the embedded store (PGlite); then an interrupted sweep resumed, and a sweep
// whose extractor is the checkpoint another sweep's metric selects.

const dir = mkdtempSync(join(tmpdir(), 'fidlab-sweep-'));
let store: Store;

before(async () => {
  await selectBackend({ backend: 'wasm' });
  store = await openStore({ dir: join(dir, 'db') });
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sweepText = (name: string, opts?: TinySweepOptions) =>
  tinySweepText(name, join(dir, 'data'), opts);

async function metricRows(runId: number) {
  return store.prisma.metricValue.count({ where: { runId } });
}

test('an interrupted sweep resumes from its checkpoint without duplicate rows', async () => {
  const spec = parseSweepText(sweepText('ae'));
  const controller = new AbortController();
  const lines: string[] = [];
  const first = await runSweep(spec, {
    recorder: store,
    runsDir: join(dir, 'runs'),
    signal: controller.signal,
    log: (line) => {
      lines.push(line);
      // Stop as soon as epoch 1 has been evaluated (Ctrl-C in the CLI does the same).
      if (/ epoch 1: fid_face=/.test(line)) controller.abort();
    },
  });
  assert.equal(first[0].status, 'cancelled', lines.join('\n'));
  const runId = first[0].runId;
  assert.deepEqual(
    (await store.runEpochs(runId)).map((e) => e.epoch),
    [1],
  );
  assert.equal(await metricRows(runId), 3); // fid_face, rank_face, rank_face@2

  const second = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  assert.equal(second[0].status, 'done');
  assert.equal(second[0].runId, runId, 'the same run row continues');
  const epochs = await store.runEpochs(runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  assert.equal(await metricRows(runId), 6);
  for (const e of epochs) {
    assert.ok(Number.isFinite(e.metrics.fid_face) && e.metrics.fid_face >= 0);
    assert.ok(e.metrics.rank_face >= 0 && e.metrics.rank_face <= 1);
    assert.ok(e.checkpoint?.uri.endsWith(`epoch-000${e.epoch}`));
  }
  // A third run finds nothing to do.
  const third = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  assert.equal(third[0].status, 'skipped');
  assert.equal(await metricRows(runId), 6);
});

test('an epoch whose checkpoint was written but whose row was not (a crash) gets its row on resume', async () => {
  const spec = parseSweepText(sweepText('crash'));
  // The process "dies" right after epoch 1's checkpoint is on disk, before its row is recorded.
  store.recordEpoch = async () => {
    throw new Error('simulated crash after the checkpoint write');
  };
  let first;
  try {
    first = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  } finally {
    delete (store as Partial<Store>).recordEpoch; // back to the class's method
  }
  assert.equal(first[0].status, 'failed');
  assert.match(first[0].error ?? '', /simulated crash/);
  const runId = first[0].runId;
  assert.deepEqual(await store.runEpochs(runId), [], 'nothing recorded for epoch 1');
  const ckDir = join(dir, 'runs', 'crash', first[0].trial.key, 'checkpoints', 'epoch-0001');
  assert.ok(existsSync(join(ckDir, 'manifest.json')), 'the checkpoint was written');
  const manifestText = readFileSync(join(ckDir, 'manifest.json'));
  const manifest = JSON.parse(manifestText.toString('utf8')) as {
    losses: Record<string, number>;
    files: { bytes: number }[];
  };

  const lines: string[] = [];
  const second = await runSweep(spec, {
    recorder: store,
    runsDir: join(dir, 'runs'),
    log: (l) => lines.push(l),
  });
  assert.equal(second[0].status, 'done', second[0].error);
  assert.ok(
    lines.some((l) => /resuming .* \(epoch 1, step/.test(l)),
    `training resumed after epoch 1:\n${lines.join('\n')}`,
  );
  const epochs = await store.runEpochs(runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  const [e1] = epochs;
  // As saveCheckpoint reported it: the manifest's sha256 and every file's size plus its own.
  assert.deepEqual(e1.checkpoint, {
    uri: ckDir,
    sha256: createHash('sha256').update(manifestText).digest('hex'),
    bytes: manifest.files.reduce((n, f) => n + f.bytes, manifestText.length),
  });
  assert.deepEqual(e1.losses, manifest.losses);
  assert.ok(e1.seconds !== null && e1.seconds > 0, 'duration from metrics.jsonl');
  for (const e of epochs) assert.ok(Number.isFinite(e.metrics.fid_face), `fid_face at ${e.epoch}`);
  assert.ok(epochs[1].checkpoint?.uri.endsWith('epoch-0002'));
});

test("a `best` reference evaluates with the other sweep's selected checkpoint", async () => {
  const spec = parseSweepText(
    sweepText('uses-ae', {
      epochs: 1,
      metrics: [
        '{ name: fid_face, kind: fid, extractor: { best: { sweep: ae, metric: fid_face }, tap: en2 } }',
      ],
    }),
  );
  const best = await store.best({ sweep: 'ae', metric: 'fid_face', goal: 'min' });
  assert.ok(best?.checkpoint);
  const [outcome] = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  assert.equal(outcome.status, 'done');
  const [epoch] = await store.runEpochs(outcome.runId);
  assert.equal(epoch.details.fid_face.extractor, `generator:${best.checkpoint}:en2`);
  assert.ok(epoch.metrics.fid_face >= 0);
});

test('a `best` reference to a sweep that does not exist names the spot', async () => {
  const spec = parseSweepText(
    sweepText('bad-ref', {
      metrics: [
        '{ name: fid_face, kind: fid, extractor: { best: { sweep: nope, metric: fid_face }, tap: en2 } }',
      ],
    }),
  );
  await assert.rejects(
    runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') }),
    (e) =>
      isFidlabError(e) &&
      /evaluate\.metrics\[0\]\.extractor\.best\.sweep: no sweep named 'nope'/.test(e.message),
  );
});

/** A tiny identity sweep: 2 epochs of the facerec body on the synthetic set. */
const identitySweep = (name: string) =>
  parseSweepText(`name: ${name}
trial: identity
data: { root: ${join(dir, 'data')}, size: 32 }
parameters:
  lr: { values: [1e-3] }
fixed: { body: facerec, epochs: 2, batch_size: 8, frozen: 10 }
identity:
  probe: { split: test, images: photos }
  ks: [1, 2]
  input_size: 104
  optimizer: adam
select: { metric: rank_1, goal: max }
`);

test('an identity sweep records rank-k, training accuracy and loss per epoch', async () => {
  const spec = identitySweep('ids');
  const [outcome] = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  assert.equal(outcome.status, 'done', outcome.error);
  const epochs = await store.runEpochs(outcome.runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  for (const e of epochs) {
    assert.deepEqual(Object.keys(e.metrics).sort(), ['loss', 'rank_1', 'rank_2', 'train_accuracy']);
    assert.ok(e.metrics.rank_1 >= 0 && e.metrics.rank_1 <= e.metrics.rank_2);
    assert.ok(e.checkpoint?.uri.includes('epoch-000'));
  }
  const best = await store.best({ sweep: 'ids', metric: 'rank_1', goal: 'max' });
  assert.ok(best && best.checkpoint);
});

test('an interrupted identity sweep resumes at epoch 2 without redoing epoch 1', async () => {
  const spec = identitySweep('ids-resume');
  const stop = new AbortController();
  const first = await runSweep(spec, {
    recorder: store,
    runsDir: join(dir, 'runs'),
    signal: stop.signal,
    log: (line) => {
      if (/ epoch 1: rank_1=/.test(line)) stop.abort();
    },
  });
  assert.equal(first[0].status, 'cancelled');
  const runId = first[0].runId;
  const before = await store.runEpochs(runId);
  assert.deepEqual(
    before.map((e) => e.epoch),
    [1],
  );

  const lines: string[] = [];
  const second = await runSweep(spec, {
    recorder: store,
    runsDir: join(dir, 'runs'),
    log: (l) => lines.push(l),
  });
  assert.equal(second[0].status, 'done', second[0].error);
  assert.ok(
    lines.some((l) => /resuming .*epoch-0001 \(epoch 1\)/.test(l)),
    lines.join('\n'),
  );
  assert.ok(!lines.some((l) => / epoch 1: /.test(l)), `epoch 1 ran again:\n${lines.join('\n')}`);
  const epochs = await store.runEpochs(runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  assert.deepEqual(epochs[0], before[0], "epoch 1's row is untouched");
  assert.ok(epochs[1].checkpoint?.uri.endsWith('epoch-0002'));
});

test('identity checkpoints go to the artifact store; a trial resumed in another runs dir fetches the newest', async () => {
  const spec = identitySweep('ids-art');
  const art = new ArtifactCheckpointStore(
    await openArtifactStore(join(dir, 'artifacts')),
    join(dir, 'art-cache'),
  );
  const sweep = await store.upsertSweep({ name: spec.name, spec, status: 'running' });
  const [trial] = expandTrials(spec);
  const run = await store.upsertRun({
    sweepId: sweep.id,
    key: trial.key,
    parameters: trial.parameters,
  });
  const job = (machine: string) =>
    buildTrialJob(spec, trial, {
      runId: run.id,
      runDir: join(dir, machine, spec.name, trial.key),
      metrics: [],
    });
  const ctx = (signal: AbortSignal, lines: string[], claim: Claim): JobContext => ({
    recorder: store,
    checkpoints: art,
    claim,
    emit: async () => {},
    heartbeat: () => {},
    log: (l) => lines.push(l),
    signal,
  });
  await store.registerWorker({ id: 'machine-a', hostname: 'a' });
  await store.registerWorker({ id: 'machine-b', hostname: 'b' });
  const stop = new AbortController();
  const linesA: string[] = [];
  const claimA = (await store.claimRun(run.id, 'machine-a'))!;
  const wrappedA = ctx(stop.signal, linesA, claimA);
  const a = await runTrialJob(job('machine-a'), {
    ...wrappedA,
    log: (l) => {
      linesA.push(l);
      if (/ epoch 1: rank_1=/.test(l)) stop.abort();
    },
  });
  assert.equal(a.status, 'cancelled', linesA.join('\n'));
  const [first] = await store.runEpochs(run.id);
  assert.equal(first.epoch, 1);
  assert.ok(art.holds(first.checkpoint!), `recorded as an artifact: ${first.checkpoint!.uri}`);
  assert.match(first.checkpoint!.sha256 ?? '', /^[0-9a-f]{64}$/);

  const linesB: string[] = [];
  const claimB = (await store.claimRun(run.id, 'machine-b', { steal: true }))!;
  const b = await runTrialJob(job('machine-b'), ctx(new AbortController().signal, linesB, claimB));
  assert.equal(b.status, 'done', linesB.join('\n'));
  assert.ok(
    linesB.some((l) =>
      /epoch 1: fetched its checkpoint from file:\/\/.* \(sha256 verified\)/.test(l),
    ),
    linesB.join('\n'),
  );
  assert.ok(
    !linesB.some((l) => / epoch 1: rank_1=/.test(l)),
    `epoch 1 ran again:\n${linesB.join('\n')}`,
  );
  const epochs = await store.runEpochs(run.id);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  assert.deepEqual(epochs[0], first, "epoch 1's row is untouched");
  assert.ok(art.holds(epochs[1].checkpoint!), epochs[1].checkpoint!.uri);
});

test('an identity epoch whose checkpoint was written but whose row was not gets it on resume', async () => {
  const spec = identitySweep('ids-crash');
  store.recordEpoch = async () => {
    throw new Error('simulated crash after the checkpoint write');
  };
  let first;
  try {
    first = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  } finally {
    delete (store as Partial<Store>).recordEpoch;
  }
  assert.equal(first[0].status, 'failed');
  const runId = first[0].runId;
  assert.deepEqual(await store.runEpochs(runId), []);
  const ckDir = join(dir, 'runs', 'ids-crash', first[0].trial.key, 'checkpoints', 'epoch-0001');
  const manifest = JSON.parse(readFileSync(join(ckDir, 'identity.json'), 'utf8')) as {
    sha256: string;
    bytes: number;
    metrics: Record<string, number>;
  };

  const second = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
  assert.equal(second[0].status, 'done', second[0].error);
  const epochs = await store.runEpochs(runId);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2],
  );
  const [e1] = epochs;
  assert.deepEqual(e1.checkpoint, { uri: ckDir, sha256: manifest.sha256, bytes: manifest.bytes });
  assert.deepEqual(e1.losses, { loss: manifest.metrics.loss });
  assert.deepEqual(e1.metrics, {
    loss: manifest.metrics.loss,
    rank_1: manifest.metrics.rank1,
    rank_2: manifest.metrics.rank2,
    train_accuracy: manifest.metrics.trainAccuracy,
  });
});

test('a sweep cancelled in the store stops within an epoch and stays cancelled', async () => {
  const spec = parseSweepText(sweepText('cancel-me', { seeds: [1, 2], epochs: 4 }));
  let cancelling: Promise<unknown> | null = null;
  const outcomes = await runSweep(spec, {
    recorder: store,
    runsDir: join(dir, 'runs'),
    log: (line) => {
      // As `sweeps.cancel` over the API would, while the first trial is in its first epoch.
      if (!cancelling && / epoch 1: fid_face=/.test(line))
        cancelling = store.cancelSweep('cancel-me');
    },
  });
  await cancelling;
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['cancelled'],
  );
  // The cancel lands while epoch 1 is evaluated; it is seen after that epoch or the next one.
  const epochs = (await store.runEpochs(outcomes[0].runId)).map((e) => e.epoch);
  assert.ok(epochs.length >= 1 && epochs.length <= 2, `epochs ${epochs} of 4 ran`);
  assert.equal((await store.getSweep('cancel-me'))?.status, 'cancelled');
});

// `best` references resolved against recorded values (no training): per-model selection with
// `where`, and identity sweeps resolving to `identity:<checkpoint>:<layer>`.
async function recordReferencedSweeps(): Promise<void> {
  if (await store.getSweep('ref-ae')) return;
  const ae = await store.upsertSweep({ name: 'ref-ae', spec: { trial: 'pix2pix' } });
  const runs = await store.createRuns(ae.id, [
    { parameters: { model: 'unet', seed: 1 } },
    { parameters: { model: 'vae', seed: 1 } },
  ]);
  // unet's best is 2.0 at epoch 2; vae's is 3.0 at epoch 1 (worse than unet's).
  const values: [number, number, number][] = [
    [0, 1, 5],
    [0, 2, 2],
    [1, 1, 3],
    [1, 2, 4],
  ];
  for (const [r, epoch, v] of values) {
    await store.recordEpoch(runs[r].id, { epoch, checkpoint: { uri: `/ck/${r}/${epoch}` } });
    await store.recordMetrics(runs[r].id, epoch, [{ name: 'fid_x', value: v }]);
  }
  const ids = await store.upsertSweep({ name: 'ref-ids', spec: { trial: 'identity' } });
  const [id] = await store.createRuns(ids.id, [{ parameters: { lr: 1e-7 } }]);
  await store.recordEpoch(id.id, { epoch: 3, checkpoint: { uri: '/id/3' } });
  await store.recordMetrics(id.id, 3, [{ name: 'rank_1', value: 0.9 }]);
}

const refSweep = (metrics: string) =>
  parseSweepText(`name: g
data: { root: /nowhere, size: 32 }
evaluate:
  metrics:
${metrics}
select: { metric: m0 }
`);

test('best references pick per `where`, and identity sweeps give identity extractors', async () => {
  await recordReferencedSweeps();
  const spec =
    refSweep(`    - { name: m0, kind: fid, extractor: { best: { sweep: ref-ae, metric: fid_x }, tap: en2 } }
    - { name: m1, kind: fid, extractor: { best: { sweep: ref-ae, metric: fid_x, where: { model: vae } }, tap: en6, pool: true } }
    - { name: m2, kind: fid, extractor: { best: { sweep: ref-ids, metric: rank_1, goal: max }, tap: fc6 } }`);
  const r = await resolveMetrics(spec, store);
  assert.deepEqual(
    r.map((m) => m.extractor),
    ['generator:/ck/0/2:en2', 'generator:/ck/1/1:en6:avg', 'identity:/id/3:fc6'],
  );
});

test('a best checkpoint in a shared-folder artifact store is loaded from its folder; one in an object store goes to workers with its sha256, and is refused by name in one process', async () => {
  const s = await store.upsertSweep({ name: 'ref-art', spec: {} });
  const [a, b] = await store.createRuns(s.id, [
    { parameters: { seed: 1 } },
    { parameters: { seed: 2 } },
  ]);
  await store.recordEpoch(a.id, {
    epoch: 1,
    checkpoint: { uri: 'file:///shared/art/ck%20a/epoch-1/' },
  });
  await store.recordMetrics(a.id, 1, [{ name: 'fid_x', value: 1 }]);
  const spec = refSweep(
    `    - { name: m0, kind: fid, extractor: { best: { sweep: ref-art, metric: fid_x }, tap: en2 } }`,
  );
  assert.deepEqual(
    (await resolveMetrics(spec, store)).map((m) => m.extractor),
    ['generator:/shared/art/ck a/epoch-1/:en2'],
  );
  await store.recordEpoch(b.id, { epoch: 1, checkpoint: { uri: 'nats-obj://ck/checkpoints/x/' } });
  await store.recordMetrics(b.id, 1, [{ name: 'fid_x', value: 0.5 }]);
  await assert.rejects(
    resolveMetrics(spec, store),
    /evaluate\.metrics\[0\]\.extractor\.best\.sweep: the best checkpoint of sweep 'ref-art' is nats-obj:\/\/ck\/checkpoints\/x\/, in an object store; a sweep run in one process/,
  );
  // For workers: no sha256 recorded, nothing to verify a fetched copy against: refused.
  await assert.rejects(
    resolveMetrics(spec, store, { artifacts: true }),
    /the best checkpoint of sweep 'ref-art' \(nats-obj:\/\/ck\/checkpoints\/x\/\) has no recorded sha256/,
  );
  const sha256 = 'c'.repeat(64);
  await store.recordEpoch(b.id, {
    epoch: 1,
    checkpoint: { uri: 'nats-obj://ck/checkpoints/x/', sha256, bytes: 123 },
  });
  const metrics = await resolveMetrics(spec, store, { artifacts: true });
  assert.deepEqual(metrics, [
    {
      spec: spec.evaluate!.metrics[0],
      extractor: 'generator:nats-obj://ck/checkpoints/x/:en2',
      artifact: { uri: 'nats-obj://ck/checkpoints/x/', sha256, bytes: 123 },
    },
  ]);
  // The trial job's evaluation carries the sha256 its evaluators verify the fetched copy against.
  const job = buildTrialJob(
    spec,
    { key: 't', parameters: {} },
    { runId: 1, runDir: '/runs/t', metrics },
  );
  assert.deepEqual((job.evaluation as { artifacts: unknown }).artifacts, {
    'nats-obj://ck/checkpoints/x/': { sha256, bytes: 123 },
  });
});

test('a `where` that matches no run names the filter', async () => {
  await recordReferencedSweeps();
  const spec = refSweep(
    `    - { name: m0, kind: fid, extractor: { best: { sweep: ref-ae, metric: fid_x, where: { model: unet-noskip } }, tap: en2 } }`,
  );
  await assert.rejects(
    resolveMetrics(spec, store),
    /no values of 'fid_x' among runs with \{"model":"unet-noskip"\}/,
  );
});
