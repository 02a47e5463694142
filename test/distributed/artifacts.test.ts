// Checkpoints through the NATS Object Store, end to end on real servers: a tiny real pix2pix
// sweep (real training, a real facerec metric) submitted with `fidlab run --nats`, trained and
// evaluated by `fidlab worker` processes that see no common runs directory (each its own
// --runs-dir) and share checkpoints only through `--artifacts nats-obj://...`. One trainer is
// SIGKILLed mid-trial; the other, whose runs directory lacks its files, fetches the last recorded
// checkpoint from the store and resumes. The values must equal those of the same sweep run in
// one process (`fidlab run` without --nats, a database of its own, run at the same time):
// training and evaluation are deterministic on the wasm backend, and resuming continues exactly
// from a checkpoint.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { openStore } from '@fidlab/store';
import { createTestDatabase, type TestDatabase } from '@fidlab/testing';
import {
  busEnv,
  coordinatorProcess,
  servicesSkipReason,
  until,
  World,
  WorkerProcess,
} from './harness.js';

const loaded = Date.now();
const skip = await servicesSkipReason();
if (skip) console.log(`# skipped: ${skip}`);

const BUCKET = 'fidlab-art-e2e';
const METRICS = ['fid_face', 'rank_face'];
const EPOCHS = 2;

function sweepFile(w: World): string {
  const file = join(w.dir, 'art.yaml');
  writeFileSync(
    file,
    `name: art
data:
  root: ${join(w.dir, 'data')}
  size: 32
  synth: { identities: 4, per_identity: 3, seed: 3 }
parameters:
  seed: { values: [1, 2] }
fixed: { model: unet, direction: sketch2sketch, gan_mode: none, epochs: 2, epochs_decay: 0, batch_size: 4, ngf: 4 }
evaluate:
  every: 1
  metrics:
    - { name: fid_face, kind: fid, extractor: facerec }
    - { name: rank_face, kind: rank-k, extractor: facerec, k: [1] }
select: { metric: fid_face, goal: min }
`,
  );
  return file;
}

/** `fidlab ...` from the sources, with the suite's queue settings. */
const fidlab = (args: string[]) => new WorkerProcess(args, busEnv(), 'tools/dev-fidlab.ts');

/** Run key -> epoch -> { losses, metrics }, as a store holds them. */
async function valuesOf(store: Awaited<ReturnType<typeof openStore>>) {
  const out = new Map<string, Map<number, { losses: object; metrics: Record<string, number> }>>();
  for (const r of await store.listRuns({ sweep: 'art' })) {
    const epochs = new Map();
    for (const e of await store.runEpochs(r.id))
      epochs.set(e.epoch, { losses: e.losses, metrics: e.metrics });
    out.set(r.key, epochs);
  }
  return out;
}

describe('checkpoints through the NATS Object Store', { skip: skip ?? false }, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    const t = Date.now();
    for (const c of cleanup.reverse()) await c().catch(() => {});
    console.log(`# cleanup ${((Date.now() - t) / 1000).toFixed(1)} s`);
  });

  test('workers without a shared runs dir train, resume and evaluate a real sweep; values equal an in-process run', async () => {
    const t0 = Date.now();
    console.log(`# services checked in ${((t0 - loaded) / 1000).toFixed(1)} s`);
    const w = await World.create();
    cleanup.push(() => w.close());
    const file = sweepFile(w);
    const track = (p: WorkerProcess) => {
      cleanup.push(async () => {
        p.signal('SIGKILL');
        await p.exited;
      });
      return p;
    };
    const worker = (runs: string, role: string) =>
      track(
        new WorkerProcess(
          [
            '--nats',
            w.nats.url,
            '--db',
            w.db.url,
            '--runs-dir',
            join(w.dir, runs),
            '--role',
            role,
            '--backend',
            'wasm',
            '--artifacts',
            `nats-obj://${BUCKET}`,
          ],
          busEnv(),
        ),
      );

    // The reference: the same sweep in one process, with a database of its own.
    const refDb = await createTestDatabase({ prefix: 'fidlab_art_ref' });
    if (typeof refDb === 'string') throw new Error(refDb);
    cleanup.push(() => (refDb as TestDatabase).drop());
    /** `fidlab run FILE` in one process, on the reference database. */
    const runInProcess = (sweepFile: string) =>
      track(
        fidlab([
          'run',
          sweepFile,
          '--db',
          refDb.url,
          '--runs-dir',
          join(w.dir, 'runs-ref'),
          '--backend',
          'wasm',
        ]),
      );
    const inProcess = runInProcess(file);
    // The distributed run at the same time: two trainers and an evaluator, each on a runs
    // directory of its own (the submitter's is a fourth, which no worker sees).
    const trainerA = worker('runs-a', 'trainer');
    const trainerC = worker('runs-c', 'trainer');
    const evaluator = worker('runs-b', 'evaluator');
    await trainerA.waitFor(/^fidlab worker \S+ on /, 300_000); // five processes start at once
    const idA = await trainerA.id();
    const run = track(
      fidlab([
        'run',
        file,
        '--nats',
        w.nats.url,
        '--db',
        w.db.url,
        '--runs-dir',
        join(w.dir, 'runs-sub'),
      ]),
    );
    // Trainer A is killed once a checkpoint of its trial is recorded (no ack, no hand-back: its
    // lease expires and the trial goes to trainer C, which has none of A's files).
    await until(
      () => `an epoch recorded under trainer A's claim\n${trainerA.lines.slice(-10).join('\n')}`,
      async () => {
        if (!(await w.store.getSweep('art'))) return false;
        for (const r of await w.store.listRuns({ sweep: 'art' }))
          if (r.claimedBy === idA && (await w.store.runEpochs(r.id)).length > 0) return true;
        return false;
      },
      // Generous: other work may share this machine's cores.
      300_000,
    );
    trainerA.signal('SIGKILL');
    await trainerA.exited;
    const within = <T>(p: Promise<T>, ms: number) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        p,
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
      ]).finally(() => clearTimeout(timer));
    };
    assert.equal(await within(inProcess.exited, 300_000), 0, inProcess.lines.join('\n'));
    const tRef = Date.now();
    const code = await within(run.exited, 300_000);
    assert.equal(
      code,
      0,
      `fidlab run --nats: ${code}\n${run.lines.slice(-20).join('\n')}\n--\n${[trainerC, evaluator].map((p) => p.lines.slice(-12).join('\n')).join('\n--\n')}`,
    );
    // A trial is done when its training is; its last evaluation may commit a moment later.
    const tail = () =>
      [trainerC, evaluator, trainerA].map((p) => p.lines.slice(-15).join('\n')).join('\n--\n');
    await until(
      () => `every epoch evaluated, its samples recorded\n${tail()}`,
      async () => {
        if ((await w.rows('art')).metrics.size !== 2 * EPOCHS * METRICS.length) return false;
        for (const r of await w.store.listRuns({ sweep: 'art' }))
          if ((await w.store.runEpochs(r.id)).some((e) => !e.samples)) return false;
        return true;
      },
    );
    const tDist = Date.now();

    // Exactly one row per (run, epoch) and per (run, epoch, metric).
    const rows = await w.rows('art');
    assert.equal(rows.runs.length, 2);
    for (const r of rows.runs)
      for (let e = 1; e <= EPOCHS; e++) {
        assert.equal(rows.epochs.get(`${r.key}:${e}`), 1, `epoch row ${r.key}:${e}`);
        for (const m of METRICS)
          assert.equal(rows.metrics.get(`${r.key}:${e}:${m}`), 1, `${r.key}:${e}:${m}`);
      }
    assert.equal(rows.epochs.size, 2 * EPOCHS);

    // Every recorded checkpoint is an artifact of the bucket, with its sha256 and size.
    for (const r of rows.runs)
      for (const e of await w.store.runEpochs(r.id)) {
        assert.ok(e.checkpoint, `${r.key}:${e.epoch} has a checkpoint`);
        assert.ok(
          e.checkpoint.uri.startsWith(
            `nats-obj://${BUCKET}/checkpoints/art/${r.key}/epoch-000${e.epoch}-`,
          ),
          e.checkpoint.uri,
        );
        assert.match(e.checkpoint.sha256 ?? '', /^[0-9a-f]{64}$/);
        assert.ok((e.checkpoint.bytes ?? 0) > 0);
        // The evaluator kept the epoch's sample images beside it (its fetched copy is gone).
        assert.ok(
          e.samples?.uri.startsWith(
            `nats-obj://${BUCKET}/samples/art/${r.key}/epoch-000${e.epoch}-`,
          ),
          JSON.stringify(e.samples),
        );
        assert.match(e.samples?.sha256 ?? '', /^[0-9a-f]{64}$/);
      }

    // The resuming trainer had none of A's files: it fetched the killed trainer's checkpoint.
    assert.ok(
      trainerC.has(
        new RegExp(`epoch \\d+: fetched its checkpoint from nats-obj://${BUCKET}/checkpoints/art/`),
      ),
      trainerC.lines.join('\n'),
    );
    assert.ok(trainerC.has(/resuming .*runs-c/), 'trainer C resumed in its own runs dir');
    // The evaluator never had a checkpoint of its own: every copy it fetched is gone again.
    const runsB = join(w.dir, 'runs-b');
    assert.deepEqual(
      existsSync(runsB) ? readdirSync(runsB).filter((n) => n !== '.artifacts') : [],
      [],
    );
    assert.deepEqual(readdirSync(join(runsB, '.artifacts')), []);
    assert.ok(evaluator.has(/\] epoch 2: fid_face=/), evaluator.lines.join('\n'));
    // Ground-truth features went to the bucket once per extractor and split.
    const os = await new Objm(jetstream(w.nc)).open(BUCKET);
    const names = (await os.list()).map((i) => i.name);
    assert.equal(
      names.filter((n) => /^features\/[0-9a-f]{64}\.json$/.test(n)).length,
      1,
      names.join('\n'),
    );

    // The same values as in one process, bit for bit (losses too: the resumed training is exact).
    const ref = await openStore({ url: refDb.url });
    cleanup.push(() => ref.close());
    const expected = await valuesOf(ref);
    const got = await valuesOf(w.store);
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [key, epochs] of expected)
      for (const [epoch, v] of epochs) {
        const g = got.get(key)!.get(epoch)!;
        assert.deepEqual(g.losses, v.losses, `losses ${key}:${epoch}`);
        for (const m of METRICS)
          assert.ok(
            Object.is(g.metrics[m], v.metrics[m]),
            `${key}:${epoch} ${m}: ${g.metrics[m]} (workers) vs ${v.metrics[m]} (in process)`,
          );
      }

    // The coordinator given the store shows those samples: the same PNG bytes as the in-process
    // run wrote into its checkpoint folder.
    const { proc: coordinator, api } = await coordinatorProcess(
      w,
      ['--public-read', '--artifacts', `nats-obj://${BUCKET}`],
      track,
    );
    const [first] = await w.store.listRuns({ sweep: 'art' });
    const listed = (await (
      await fetch(
        `${api}/trpc/runs.samples?input=${encodeURIComponent(JSON.stringify({ id: first.id }))}`,
      )
    ).json()) as {
      result: { data: { epoch: number; files: { index: number; kind: string; path: string }[] } };
    };
    const samples = listed.result.data;
    assert.equal(samples.epoch, EPOCHS);
    assert.deepEqual([...new Set(samples.files.map((f) => f.kind))].sort(), [
      'generated',
      'input',
      'truth',
    ]);
    const generated = samples.files.find((f) => f.kind === 'generated' && f.index === 0)!;
    const png = Buffer.from(
      await (await fetch(`${api}/files/runs/${first.id}/${generated.path}`)).arrayBuffer(),
    );
    const refRun = (await ref.listRuns({ sweep: 'art' })).find((r) => r.key === first.key)!;
    const refCheckpoint = (await ref.runEpochs(refRun.id)).find((e) => e.epoch === EPOCHS)!
      .checkpoint!.uri;
    assert.ok(
      png.equals(readFileSync(join(refCheckpoint, 'samples', 'sample-000.png'))),
      'the served sample equals the in-process one',
    );

    // `fidlab generate` reads the object-store checkpoint (fetched, verified against the sha256
    // the store recorded): the same images as from the in-process run's folder.
    const nativeUri = (await w.store.runEpochs(first.id)).find((e) => e.epoch === EPOCHS)!
      .checkpoint!.uri;
    const generate = async (checkpoint: string, out: string, extra: string[] = []) => {
      const p = fidlab([
        'generate',
        '--checkpoint',
        checkpoint,
        '--out',
        join(w.dir, out),
        '--backend',
        'wasm',
        ...extra,
      ]);
      return { code: await within(p.exited, 120_000), lines: p.lines };
    };
    const fromStore = await generate(nativeUri, 'gen-nats', [
      '--nats',
      w.nats.url,
      '--db',
      w.db.url,
    ]);
    assert.equal(fromStore.code, 0, fromStore.lines.join('\n'));
    assert.equal((await generate(refCheckpoint, 'gen-ref')).code, 0);
    const made = readdirSync(join(w.dir, 'gen-ref')).sort();
    assert.ok(made.length > 0);
    assert.deepEqual(readdirSync(join(w.dir, 'gen-nats')).sort(), made);
    for (const f of made)
      assert.ok(
        readFileSync(join(w.dir, 'gen-nats', f)).equals(readFileSync(join(w.dir, 'gen-ref', f))),
        f,
      );
    const unknown = await generate(`${nativeUri}x/`, 'gen-none', [
      '--nats',
      w.nats.url,
      '--db',
      w.db.url,
    ]);
    assert.equal(unknown.code, 1);
    assert.ok(
      unknown.lines.some((l) => l.includes('no checkpoint with this URI')),
      unknown.lines.join('\n'),
    );

    // A sweep measured with the encoder of `art`'s best checkpoint (a `best` reference): over
    // NATS the extractor names the object-store checkpoint, which the evaluator fetches and
    // verifies; the values equal those of the same sweep in one process, whose reference is the
    // in-process `art`'s checkpoint folder.
    const encFile = join(w.dir, 'art-enc.yaml');
    writeFileSync(
      encFile,
      readFileSync(file, 'utf8')
        .replace('name: art', 'name: art-enc')
        .replace('seed: { values: [1, 2] }', 'seed: { values: [3] }')
        .replace(
          /metrics:\n(.|\n)*?select:/,
          'metrics:\n    - { name: fid_enc, kind: fid, extractor: { best: { sweep: art, metric: fid_face }, tap: en2 } }\nselect:',
        )
        .replace(
          'select: { metric: fid_face, goal: min }',
          'select: { metric: fid_enc, goal: min }',
        ),
    );
    const encRef = runInProcess(encFile);
    const encRun = fidlab([
      'run',
      encFile,
      '--nats',
      w.nats.url,
      '--db',
      w.db.url,
      '--runs-dir',
      join(w.dir, 'runs-sub'),
    ]);
    assert.equal(await within(encRef.exited, 300_000), 0, encRef.lines.join('\n'));
    assert.equal(await within(encRun.exited, 300_000), 0, encRun.lines.join('\n'));
    await until(
      () => `art-enc evaluated\n${tail()}`,
      async () => (await w.rows('art-enc')).metrics.size === EPOCHS,
    );
    const bestArt = (await w.store.best({ sweep: 'art', metric: 'fid_face', goal: 'min' }))
      ?.checkpoint;
    assert.ok(bestArt, 'art has a best checkpoint');
    assert.ok(bestArt.startsWith(`nats-obj://${BUCKET}/`), bestArt);
    assert.ok(
      evaluator.lines.some((l) => l.includes(`fetching extractor checkpoint ${bestArt}`)),
      evaluator.lines.join('\n'),
    );
    const [encDist] = await w.store.listRuns({ sweep: 'art-enc' });
    const [encIn] = await ref.listRuns({ sweep: 'art-enc' });
    const distEpochs = await w.store.runEpochs(encDist.id);
    const inEpochs = await ref.runEpochs(encIn.id);
    assert.equal(distEpochs.length, EPOCHS);
    for (const [i, e] of distEpochs.entries()) {
      assert.ok(
        Object.is(e.metrics.fid_enc, inEpochs[i].metrics.fid_enc),
        `art-enc epoch ${e.epoch}: ${e.metrics.fid_enc} (workers) vs ${inEpochs[i].metrics.fid_enc} (in process)`,
      );
      // The value names the checkpoint by its URI, not by where the evaluator kept its copy.
      assert.equal(e.details.fid_enc.extractor, `generator:${bestArt}:en2`);
    }
    for (const p of [evaluator, trainerC, coordinator]) assert.equal(await p.stop(), 0);
    console.log(
      `# wall (both runs at once): in-process run done after ${((tRef - t0) / 1000).toFixed(1)} s, distributed after ${((tDist - t0) / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  });
});
