// fidlab best|runs|export|token|serve against an embedded store, directly and through a server.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FidlabError, openArtifactStore } from '@fidlab/base';
import { recipeId } from '@fidlab/features/recipe';
import { openStore } from '@fidlab/store';
import { captureIo } from '@fidlab/testing';
import { bestCommand } from './best.js';
import { exportCommand } from './export.js';
import { reportCommand } from './report.js';
import { runsCommand } from './runs.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';

async function seed(db: string): Promise<void> {
  const store = await openStore({ url: db });
  const s = await store.upsertSweep({ name: 'demo', spec: {} });
  for (const [key, fids] of [
    ['unet-s1', [40, 31, 33]],
    ['vae-s1', [45, 32.5, 30.5]],
  ] as const) {
    const r = await store.upsertRun({
      sweepId: s.id,
      key,
      parameters: { model: key.split('-')[0], note: 'a,"b"' },
    });
    for (let e = 1; e <= 3; e++) {
      await store.recordEpoch(r.id, {
        epoch: e,
        losses: { g: 2 / e, d: 0.5 },
        checkpoint: { uri: `runs/${key}/epoch-000${e}`, sha256: 'a'.repeat(64), bytes: 10 },
        seconds: 1.5,
      });
      // vae-s1's last epoch as the current evaluator records it (protocol 2); the rest as
      // before protocols were recorded (1): vae-s1's curve mixes the two.
      const extra = key === 'vae-s1' && e === 3 ? { protocol: 2, recipe: RECIPE } : null;
      await store.recordMetrics(r.id, e, [
        { name: 'fid_inception', value: fids[e - 1], extra },
        { name: 'kid_inception', value: fids[e - 1] / 1000, extra },
      ]);
    }
    await store.setRunStatus(r.id, 'done');
  }
  await store.close();
}

/** A value recipe as the evaluator records it (extra.recipe). */
const RECIPE = {
  kind: 'fid',
  bootstrap: 0,
  seed: null,
  extractor: { family: 'inception', dims: 2048 },
  weights_sha256: 'b'.repeat(64),
  resize: { mode: 'pytorch-bilinear', size: 299 },
  protocol: 2,
  data: { split: 'test', max_images: null },
};
const RECIPE_ID = recipeId(RECIPE)!;

describe('store commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-store-'));
  const db = `pglite:${join(dir, 'db')}`;
  before(() => seed(db));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('best --json prints exactly run, epoch, value, checkpoint, metrics, protocol(s)', async () => {
    const io = captureIo();
    const code = await bestCommand.run(
      ['--db', db, '--sweep', 'demo', '--metric', 'fid_inception', '--json'],
      io,
    );
    assert.equal(code, 0);
    assert.equal(
      io.stdout.join('\n'),
      `{"run":"vae-s1","epoch":3,"value":30.5,"checkpoint":"runs/vae-s1/epoch-0003","metrics":{"fid_inception":30.5,"kid_inception":0.0305},"protocol":2,"protocols":{"fid_inception":2,"kid_inception":2},"recipe":"${RECIPE_ID}","comparable":false}`,
    );
    const max = captureIo();
    await bestCommand.run(
      ['--db', db, '--sweep', 'demo', '--metric', 'fid_inception', '--goal', 'max'],
      max,
    );
    assert.match(max.stdout[0], /best fid_inception \(max\) = 45/);
    // The lines as before, then the protocol of the values.
    assert.deepEqual(max.stdout.slice(2), [
      '  epoch       1',
      '  checkpoint  runs/vae-s1/epoch-0001',
      '  fid_inception  45.0000',
      '  kid_inception  0.04500',
      'evaluation protocol 1',
      'recipe (none recorded: values of fid_inception made before recipes were recorded are not comparable)',
    ]);
    const min = captureIo();
    await bestCommand.run(['--db', db, '--sweep', 'demo', '--metric', 'fid_inception'], min);
    assert.equal(
      min.stdout.at(-1),
      `recipe ${RECIPE_ID} (not comparable: the sweep's fid_inception values have other recipes too)`,
    );
  });

  it('best fails with one line for an unknown sweep or metric', async () => {
    await assert.rejects(
      bestCommand.run(['--db', db, '--sweep', 'nope', '--metric', 'fid'], captureIo()),
      (e: unknown) => e instanceof FidlabError && e.code === 'NOT_FOUND' && /nope/.test(e.message),
    );
    await assert.rejects(
      bestCommand.run(['--db', db, '--sweep', 'demo', '--metric', 'fid_vgg'], captureIo()),
      (e: unknown) => e instanceof FidlabError && /fid_vgg/.test(e.message),
    );
    await assert.rejects(bestCommand.run(['--db', db, '--metric', 'fid'], captureIo()), /--sweep/);
  });

  it('runs prints a table and --json the summaries', async () => {
    const io = captureIo();
    await runsCommand.run(['--db', db, '--sweep', 'demo'], io);
    assert.match(io.stdout[0], /^run\s+status\s+attempt\s+epoch\s+fid_inception\s+kid_inception$/);
    assert.match(io.stdout[1], /^unet-s1\s+done\s+0\s+3\s+33\.0000/);
    // The table is unchanged; the protocols follow it, since the sweep mixes two.
    assert.deepEqual(io.stdout.slice(3), [
      'evaluation protocols differ (values of different protocols are not comparable):',
      '  unet-s1  protocol 1',
      '  vae-s1   protocols 1, 2 (mixed: fid_inception, kid_inception)',
    ]);
    const js = captureIo();
    await runsCommand.run(['--db', db, '--sweep', 'demo', '--json'], js);
    const runs = JSON.parse(js.stdout[0]);
    assert.deepEqual(
      runs.map((r: { protocols: unknown; lastProtocol: unknown }) => [r.protocols, r.lastProtocol]),
      [
        [
          { fid_inception: [1], kid_inception: [1] },
          { fid_inception: 1, kid_inception: 1 },
        ],
        [
          { fid_inception: [1, 2], kid_inception: [1, 2] },
          { fid_inception: 2, kid_inception: 2 },
        ],
      ],
    );
    assert.deepEqual(
      runs.map((r: { key: string; best: { fid_inception: { min: number } } }) => [
        r.key,
        r.best.fid_inception.min,
      ]),
      [
        ['unet-s1', 31],
        ['vae-s1', 30.5],
      ],
    );
  });

  it('export writes csv (quoted where needed) and jsonl, one row per run and epoch', async () => {
    const io = captureIo();
    await exportCommand.run(['--db', db, '--sweep', 'demo', '--format', 'csv'], io);
    assert.equal(io.stdout.length, 7);
    assert.equal(
      io.stdout[0],
      'sweep,run,run_id,status,param.model,param.note,epoch,loss.d,loss.g,seconds,checkpoint,checkpoint_sha256,fid_inception,kid_inception,protocol.fid_inception,protocol.kid_inception,recipe.fid_inception,recipe.kid_inception',
    );
    assert.equal(
      io.stdout[2],
      `demo,unet-s1,1,done,unet,"a,""b""",2,0.5,1,1.5,runs/unet-s1/epoch-0002,${'a'.repeat(64)},31,0.031,1,1,,`,
    );
    assert.ok(io.stdout[6].endsWith(`,30.5,0.0305,2,2,${RECIPE_ID},${RECIPE_ID}`), io.stdout[6]);
    const out = join(dir, 'x.jsonl');
    await exportCommand.run(
      ['--db', db, '--sweep', 'demo', '--format', 'jsonl', '--out', out],
      captureIo(),
    );
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 6);
    assert.deepEqual(lines[5].metrics, { fid_inception: 30.5, kid_inception: 0.0305 });
    assert.deepEqual(lines[5].protocols, { fid_inception: 2, kid_inception: 2 });
    assert.deepEqual(lines[0].protocols, { fid_inception: 1, kid_inception: 1 });
    assert.deepEqual(lines[5].recipes, { fid_inception: RECIPE_ID, kid_inception: RECIPE_ID });
    assert.deepEqual(lines[0].recipes, { fid_inception: null, kid_inception: null });
    await assert.rejects(
      exportCommand.run(['--db', db, '--sweep', 'demo', '--format', 'xml'], captureIo()),
      /csv or jsonl/,
    );
  });

  it('token create prints a token once; serve answers best/runs/export with it', async () => {
    const io = captureIo();
    assert.equal(await tokenCommand.run(['create', 'cli', '--db', db], io), 0);
    const token = io.stdout[0];
    assert.match(token, /^fidlab_[A-Za-z0-9_-]{43}$/);

    // vae-s1's last epoch has its samples in a shared-folder artifact store (--artifacts).
    const artifacts = await openArtifactStore(join(dir, 'artifacts'));
    mkdirSync(join(dir, 'made'), { recursive: true });
    writeFileSync(join(dir, 'made', 'sample-000.png'), 'generated');
    const seeded = await openStore({ url: db });
    const vaeRun = (await seeded.listRuns({ sweep: 'demo' })).find((r) => r.key === 'vae-s1')!;
    await seeded.recordSamples(
      vaeRun.id,
      3,
      await artifacts.putFolder('samples/demo/vae-s1/epoch-0003-abc', join(dir, 'made')),
    );
    await seeded.close();
    await assert.rejects(
      serveCommand.run(['--db', db, '--artifacts', 'nats-obj://b'], captureIo()),
      /fidlab serve reads a folder store; serve an object store with fidlab-coordinator/,
    );

    const serveIo = captureIo();
    const serving = serveCommand.run(
      ['--db', db, '--port', '0', '--artifacts', join(dir, 'artifacts')],
      serveIo,
    );
    for (let i = 0; i < 200 && serveIo.stdout.length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    const url = /(http:\/\/\S+)\/trpc/.exec(serveIo.stdout[0] ?? '')?.[1];
    assert.ok(url, `serve printed: ${serveIo.stdout.join('|')} ${serveIo.stderr.join('|')}`);
    try {
      // The embedded database is held by the server now: direct access is refused with advice.
      await assert.rejects(
        bestCommand.run(['--db', db, '--sweep', 'demo', '--metric', 'fid_inception'], captureIo()),
        /--server URL/,
      );
      const remote = captureIo();
      await bestCommand.run(
        [
          '--server',
          url,
          '--token',
          token,
          '--sweep',
          'demo',
          '--metric',
          'fid_inception',
          '--json',
        ],
        remote,
      );
      assert.deepEqual(JSON.parse(remote.stdout[0]), {
        run: 'vae-s1',
        epoch: 3,
        value: 30.5,
        checkpoint: 'runs/vae-s1/epoch-0003',
        metrics: { fid_inception: 30.5, kid_inception: 0.0305 },
        protocol: 2,
        protocols: { fid_inception: 2, kid_inception: 2 },
        recipe: RECIPE_ID,
        comparable: false,
      });
      const csv = captureIo();
      await exportCommand.run(
        ['--server', url, '--token', token, '--sweep', 'demo', '--format', 'csv'],
        csv,
      );
      assert.equal(csv.stdout.length, 7);
      await assert.rejects(
        runsCommand.run(['--server', url, '--sweep', 'demo'], captureIo()),
        (e: unknown) => e instanceof FidlabError && /UNAUTHORIZED/.test(e.message),
      );
      await assert.rejects(
        runsCommand.run(['--server', url, '--token', token, '--sweep', 'nope'], captureIo()),
        (e: unknown) => e instanceof FidlabError && e.code === 'NOT_FOUND',
      );
      // The samples kept in the artifact store are listed and served, verified.
      const auth = { authorization: `Bearer ${token}` };
      const listed = (await (
        await fetch(
          `${url}/trpc/runs.samples?input=${encodeURIComponent(JSON.stringify({ id: vaeRun.id }))}`,
          { headers: auth },
        )
      ).json()) as { result: { data: { epoch: number; files: { path: string }[] } } };
      assert.deepEqual(listed.result.data.epoch, 3);
      assert.deepEqual(
        listed.result.data.files.map((f) => f.path),
        ['.artifact-samples/3/sample-000.png'],
      );
      const png = await fetch(`${url}/files/runs/${vaeRun.id}/.artifact-samples/3/sample-000.png`, {
        headers: auth,
      });
      assert.equal(await png.text(), 'generated');
      // fidlab report reads the same through the server.
      const out = join(dir, 'remote-report.html');
      await reportCommand.run(
        ['--server', url, '--token', token, '--sweep', 'demo', '--out', out],
        captureIo(),
      );
      const data = JSON.parse(
        /id="fidlab-report-data">([\s\S]*?)<\/script>/.exec(readFileSync(out, 'utf8'))![1],
      ) as {
        sweeps: {
          runs: { id: number; key: string }[];
          values: Record<string, Record<string, { epoch: number; value: number }[]>>;
        }[];
      };
      const vae = data.sweeps[0].runs.find((r) => r.key === 'vae-s1')!;
      assert.deepEqual(
        data.sweeps[0].values.fid_inception[vae.id].map((p) => p.value),
        [45, 32.5, 30.5],
      );
      await assert.rejects(
        reportCommand.run(['--server', url, '--token', token, '--sweep', 'nope'], captureIo()),
        (e: unknown) => e instanceof FidlabError && /no sweep named 'nope'/.test(e.message),
      );
    } finally {
      process.emit('SIGTERM');
      assert.equal(await serving, 0);
    }
  });
});
