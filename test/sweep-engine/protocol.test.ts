import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { selectBackend } from '@fidlab/models';
import { openStore, type EpochRow, type JsonValue, type Store } from '@fidlab/store';
import { tinySweepText } from '@fidlab/testing';
import {
  EVALUATION_PROTOCOL,
  epochsToReevaluate,
  parseSweepText,
  runSweep,
} from '@fidlab/experiments';

// Values of different evaluation protocols must not meet on one curve: a resumed sweep evaluates
// again the epochs whose stored values are older (or have no protocol: version 1) and replaces
// them, and leaves current ones alone. Tiny sweeps on synthetic data, a PGlite store of its own.

const dir = mkdtempSync(join(tmpdir(), 'fidlab-protocol-'));
let store: Store;

before(async () => {
  await selectBackend({ backend: 'wasm' });
  store = await openStore({ dir: join(dir, 'db') });
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sweepText = (name: string) => tinySweepText(name, join(dir, 'data'));

const withoutProtocol = (extra: JsonValue | null | undefined): JsonValue | null => {
  if (extra === null || extra === undefined || typeof extra !== 'object' || Array.isArray(extra))
    return extra ?? null;
  const { protocol: _dropped, ...rest } = extra;
  return rest;
};

/**
 * Rewrites one epoch's values through the store (so run_best follows): as an older evaluator
 * would have left them (no protocol) or with `protocol` kept; fid_face set to `fid`.
 */
async function rewrite(runId: number, row: EpochRow, fid: number, keepProtocol: boolean) {
  await store.recordMetrics(
    runId,
    row.epoch,
    Object.entries(row.details).map(([name, d]) => ({
      ...d,
      name,
      value: name === 'fid_face' ? fid : d.value,
      extra: keepProtocol ? (d.extra ?? null) : withoutProtocol(d.extra),
    })),
  );
}

test('epochsToReevaluate: values without a protocol or older are due, current and newer are not', () => {
  const row = (epoch: number, protocols: Record<string, number>): EpochRow => ({
    epoch,
    losses: {},
    checkpoint: null,
    seconds: null,
    metrics: Object.fromEntries(Object.keys(protocols).map((k) => [k, 1])),
    details: {},
    protocols,
  });
  const rows = [
    row(1, { fid: 1, kid: 1 }),
    row(2, { fid: 2, kid: 1 }),
    row(3, { fid: 2, kid: 2 }),
    row(4, { fid: 3 }),
    row(5, {}),
  ];
  assert.equal(EVALUATION_PROTOCOL, 2);
  assert.deepEqual(epochsToReevaluate(rows), [
    { epoch: 1, protocols: [1] },
    { epoch: 2, protocols: [1] },
  ]);
  // A metric no longer evaluated cannot be replaced: it does not make its epoch due.
  assert.deepEqual(epochsToReevaluate(rows, { names: ['fid'] }), [{ epoch: 1, protocols: [1] }]);
  assert.deepEqual(
    epochsToReevaluate(rows, { protocol: 3 }).map((e) => e.epoch),
    [1, 2, 3],
  );
});

test('a completed sweep evaluates again only the epochs of an older protocol, and best follows', async () => {
  const spec = parseSweepText(sweepText('old-values'));
  const runsDir = join(dir, 'runs');
  const [first] = await runSweep(spec, { recorder: store, runsDir });
  assert.equal(first.status, 'done', first.error);
  const runId = first.runId;
  const [e1, e2] = await store.runEpochs(runId);
  for (const e of [e1, e2]) {
    assert.deepEqual(
      e.protocols,
      { fid_face: 2, rank_face: 2, 'rank_face@2': 2 },
      `every value the evaluator wrote carries the protocol (epoch ${e.epoch})`,
    );
    assert.equal((e.details.fid_face.extra as { protocol: number }).protocol, EVALUATION_PROTOCOL);
  }
  const fid1 = e1.metrics.fid_face;
  assert.ok(fid1 > 0, `fid_face at epoch 1 is ${fid1}`);

  // Epoch 1 as the old evaluator left it: no protocol, and a value better than any (0), so that
  // its replacement is a worse value. Epoch 2 is current but altered, to see it is not redone.
  await rewrite(runId, e1, 0, false);
  await rewrite(runId, e2, 123.25, true);
  assert.equal((await store.best({ run: runId, metric: 'fid_face' }))?.epoch, 1);
  const [listed] = await store.listRuns({ sweep: 'old-values' });
  assert.deepEqual(listed.protocols.fid_face, [1, 2], 'the mixed curve shows as such');
  const attempt = listed.attempt;

  const lines: string[] = [];
  const [second] = await runSweep(spec, { recorder: store, runsDir, log: (l) => lines.push(l) });
  assert.equal(second.status, 'done', second.error);
  assert.ok(
    lines.some((l) => /already completed; 1 epoch\(s\) have values of an older evaluation/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) =>
      / epoch 1: evaluating again \(values of evaluation protocol 1, current 2\)/.test(l),
    ),
    lines.join('\n'),
  );
  assert.ok(
    !lines.some((l) => / epoch 2: /.test(l)),
    `epoch 2 was evaluated:\n${lines.join('\n')}`,
  );
  assert.ok(!lines.some((l) => /training in/.test(l)), 'a completed trial is not trained again');
  const [r1, r2] = await store.runEpochs(runId);
  assert.deepEqual(r1.protocols, { fid_face: 2, rank_face: 2, 'rank_face@2': 2 });
  assert.equal(r1.metrics.fid_face, fid1, 'the same checkpoint evaluates to the same value');
  assert.deepEqual(r1.metrics, e1.metrics);
  assert.equal(r2.metrics.fid_face, 123.25, 'the current-protocol value was left alone');
  assert.equal(await store.prisma.metricValue.count({ where: { runId } }), 6, 'replaced in place');
  const best = await store.best({ run: runId, metric: 'fid_face' });
  assert.deepEqual([best?.epoch, best?.value, best?.protocol], [1, fid1, 2]);
  assert.notEqual(best?.value, 0, 'the replaced (better) value is gone from the summary');
  const [after2] = await store.listRuns({ sweep: 'old-values' });
  assert.deepEqual(after2.protocols.fid_face, [2]);
  assert.deepEqual(after2.best.fid_face, { min: fid1, minEpoch: 1, max: 123.25, maxEpoch: 2 });
  assert.equal(after2.status, 'done');
  assert.equal(after2.attempt, attempt, 'no new training attempt');

  // Nothing older is left: the next run skips the trial.
  const [third] = await runSweep(spec, { recorder: store, runsDir });
  assert.equal(third.status, 'skipped');

  // Without its checkpoint an outdated epoch cannot be evaluated again: it says so, and the
  // value stays, listed with its protocol.
  await rewrite(runId, r2, 123.25, false);
  rmSync(join(runsDir, 'old-values', first.trial.key, 'checkpoints', 'epoch-0002'), {
    recursive: true,
  });
  const kept: string[] = [];
  await runSweep(spec, { recorder: store, runsDir, log: (l) => kept.push(l) });
  assert.ok(
    kept.some((l) =>
      / epoch 2: cannot evaluate again \(no usable checkpoint .*\); its values stay of evaluation protocol 1/.test(
        l,
      ),
    ),
    kept.join('\n'),
  );
  const [, k2] = await store.runEpochs(runId);
  assert.deepEqual([k2.metrics.fid_face, k2.protocols.fid_face], [123.25, 1]);
});

test('an interrupted sweep evaluates its outdated epochs again before training on', async () => {
  const spec = parseSweepText(sweepText('old-resume'));
  const runsDir = join(dir, 'runs');
  const stop = new AbortController();
  const [first] = await runSweep(spec, {
    recorder: store,
    runsDir,
    signal: stop.signal,
    log: (l) => {
      if (/ epoch 1: fid_face=/.test(l)) stop.abort();
    },
  });
  assert.equal(first.status, 'cancelled');
  const [e1] = await store.runEpochs(first.runId);
  await rewrite(first.runId, e1, 0, false);

  const lines: string[] = [];
  const [second] = await runSweep(spec, { recorder: store, runsDir, log: (l) => lines.push(l) });
  assert.equal(second.status, 'done', second.error);
  const again = lines.findIndex((l) => / epoch 1: evaluating again/.test(l));
  const training = lines.findIndex((l) => /training in/.test(l));
  assert.ok(again >= 0 && training > again, lines.join('\n'));
  const epochs = await store.runEpochs(first.runId);
  assert.deepEqual(
    epochs.map((e) => [e.epoch, e.protocols.fid_face]),
    [
      [1, 2],
      [2, 2],
    ],
  );
  assert.equal(epochs[0].metrics.fid_face, e1.metrics.fid_face);
});
