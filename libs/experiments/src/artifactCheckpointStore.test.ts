import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCode, FidlabError, openArtifactStore } from '@fidlab/base';
import { ArtifactCheckpointStore } from './artifactCheckpointStore.js';
import { runEvaluationJob } from './evaluationJob.js';
import type {
  CheckpointEvaluationJob,
  CheckpointRef,
  JobContext,
  Recorder,
  SweepEvent,
} from './ports.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-checkpoint-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A checkpoint-shaped folder (the store moves folders; evaluation never gets this far here). */
function checkpointFolder(name: string): string {
  const ck = join(dir, name, 'checkpoints', 'epoch-0002');
  mkdirSync(ck, { recursive: true });
  writeFileSync(join(ck, 'generator.safetensors'), Buffer.alloc(4096, 7));
  writeFileSync(join(ck, 'manifest.json'), JSON.stringify({ epoch: 2 }));
  return ck;
}

async function checkpointStore(name: string) {
  const root = join(dir, name, 'artifacts');
  const cache = join(dir, name, 'cache');
  return { root, cache, store: new ArtifactCheckpointStore(await openArtifactStore(root), cache) };
}

/** An evaluator's context: what it recorded and emitted is kept to show that nothing was. */
function evaluatorContext(checkpoints?: ArtifactCheckpointStore) {
  const written: string[] = [];
  const recorder = new Proxy({} as Recorder, {
    get: (_, method: string) => async () => {
      written.push(method);
      throw new Error(`recorder.${method} called`);
    },
  });
  const events: SweepEvent[] = [];
  const ctx: JobContext = {
    recorder,
    checkpoints,
    emit: async (e) => void events.push(e),
    heartbeat: () => {},
    log: () => {},
    signal: new AbortController().signal,
  };
  return { ctx, written, events };
}

function evaluationJob(checkpoint: CheckpointRef): CheckpointEvaluationJob {
  return {
    kind: 'evaluation',
    sweep: 's',
    runId: 1,
    runKey: 'abc123',
    epoch: 2,
    checkpoint,
    evaluation: {
      data: { root: join(dir, 'no-data'), size: 32 },
      metrics: [{ name: 'fid_face', kind: 'fid', extractor: 'facerec' }],
    },
  };
}

const place = { sweep: 's', runKey: 'abc123', epoch: 2, sha256: 'f00d'.repeat(16) };

test('a checkpoint put in the store comes back byte for byte under its key', async () => {
  const { store, root } = await checkpointStore('roundtrip');
  const ck = checkpointFolder('roundtrip');
  const ref = await store.put(ck, place);
  assert.ok(
    ref.uri.startsWith('file://') &&
      ref.uri.endsWith('/checkpoints/s/abc123/epoch-0002-f00df00df00d/'),
    ref.uri,
  );
  assert.match(ref.sha256!, /^[0-9a-f]{64}$/);
  assert.equal(ref.bytes, 4096 + JSON.stringify({ epoch: 2 }).length);
  assert.ok(store.holds(ref));
  assert.ok(!store.holds({ uri: ck }), 'a plain path is not an artifact');
  assert.ok(!store.holds({ uri: `file://${join(dir, 'elsewhere')}/` }));
  const dest = join(dir, 'roundtrip', 'fetched');
  await store.fetch(ref, dest);
  for (const f of ['generator.safetensors', 'manifest.json'])
    assert.deepEqual(readFileSync(join(dest, f)), readFileSync(join(ck, f)), f);
  assert.ok(readdirSync(root).length > 0);
});

test('the evaluator refuses a corrupted artifact (ARTIFACT_MISMATCH) and records nothing', async () => {
  const { store, root, cache } = await checkpointStore('corrupt');
  const ref = await store.put(checkpointFolder('corrupt'), place);
  const stored = join(root, 'checkpoints/s/abc123/epoch-0002-f00df00df00d/generator.safetensors');
  const bytes = readFileSync(stored);
  bytes[100] ^= 1; // one flipped bit
  writeFileSync(stored, bytes);
  const { ctx, written, events } = evaluatorContext(store);
  await assert.rejects(runEvaluationJob(evaluationJob(ref), ctx), (e: unknown) => {
    assert.ok(e instanceof FidlabError);
    assert.equal(e.code, ErrorCode.ARTIFACT_MISMATCH);
    assert.match(e.message, /generator\.safetensors: sha256 mismatch/);
    return true;
  });
  assert.deepEqual(written, [], 'no values recorded');
  assert.deepEqual(events, [], 'no metrics event');
  assert.deepEqual(readdirSync(cache), [], 'the fetched copy is gone');
});

test('the evaluator refuses a ref whose recorded sha256 is not the artifact it names', async () => {
  const { store } = await checkpointStore('tampered');
  const ref = await store.put(checkpointFolder('tampered'), place);
  const { ctx, written } = evaluatorContext(store);
  await assert.rejects(
    runEvaluationJob(evaluationJob({ ...ref, sha256: '0'.repeat(64) }), ctx),
    (e: unknown) => e instanceof FidlabError && e.code === ErrorCode.ARTIFACT_MISMATCH,
  );
  assert.deepEqual(written, []);
});

test('an artifact URI the worker cannot read is a clear error, not a missing path', async () => {
  const { store } = await checkpointStore('other');
  const job = evaluationJob({
    uri: 'nats-obj://elsewhere/checkpoints/s/abc123/epoch-0002-x/',
    sha256: 'a'.repeat(64),
    bytes: 1,
  });
  for (const [checkpoints, why] of [
    [undefined, /but this worker has no artifact store/],
    [store, /of another store than this worker's/],
  ] as const)
    await assert.rejects(
      runEvaluationJob(job, evaluatorContext(checkpoints).ctx),
      (e: unknown) =>
        e instanceof FidlabError && e.code === ErrorCode.INVALID_INPUT && why.test(e.message),
    );
});
