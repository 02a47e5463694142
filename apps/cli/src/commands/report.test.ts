// fidlab report on a real (tiny) sweep: trained, evaluated and recorded by the sweep engine, then
// reported from the embedded store; the report's numbers are checked against the store's.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isFidlabError } from '@fidlab/base';
import { parseSweepText, runSweep } from '@fidlab/experiments';
import { selectBackend } from '@fidlab/models';
import { correlationOf, type CorrelationResult } from '@fidlab/api';
import { openStore, type EpochRow, type RunSummary } from '@fidlab/store';
import { captureIo } from '@fidlab/testing';
import { reportCommand } from './report.js';

const dir = mkdtempSync(join(tmpdir(), 'fidlab-report-'));
const db = `pglite:${join(dir, 'db')}`;
// What the store holds, read after the sweep (the report reads the same store afterwards).
let runs: RunSummary[];
const epochs = new Map<number, EpochRow[]>();
// The api's correlation (fid-core's coefficients over the store's points).
let correlations: CorrelationResult[];
const METRICS = ['fid_face', 'kid_face', 'rank_face', 'rank_face@2', 'fid_pool'];

before(async () => {
  await selectBackend({ backend: 'wasm' });
  // The demo sweep's metrics (bootstrapped FID, KID, rank-k on facerec) plus a second FID layer,
  // shrunk to seconds: 2 models, 2 epochs, 32 px, 12 images.
  const spec = parseSweepText(`name: tiny-demo
data:
  root: ${join(dir, 'data')}
  size: 32
  synth: { identities: 4, per_identity: 3, seed: 3 }
parameters:
  model: { values: [unet, unet-noskip] }
fixed: { direction: photo2sketch, gan_mode: none, epochs: 2, epochs_decay: 0, batch_size: 4, ngf: 4, seed: 1 }
evaluate:
  metrics:
    - { name: fid_face, kind: fid, extractor: facerec, bootstrap: 10 }
    - { name: kid_face, kind: kid, extractor: facerec }
    - { name: rank_face, kind: rank-k, extractor: facerec, k: [1, 2] }
    - { name: fid_pool, kind: fid, extractor: 'facerec:pool', bootstrap: 10 }
select: { metric: fid_face, goal: min }
`);
  const store = await openStore({ url: db });
  try {
    const outcomes = await runSweep(spec, { recorder: store, runsDir: join(dir, 'runs') });
    for (const o of outcomes) assert.equal(o.status, 'done', o.error);
    runs = await store.listRuns({ sweep: 'tiny-demo' });
    for (const r of runs) epochs.set(r.id, await store.runEpochs(r.id));
    correlations = [];
    for (let i = 0; i < METRICS.length; i++)
      for (let j = i + 1; j < METRICS.length; j++)
        correlations.push(
          correlationOf(
            await store.correlationPoints({ sweep: 'tiny-demo', a: METRICS[i], b: METRICS[j] }),
          ),
        );
  } finally {
    await store.close();
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface ReportData {
  sweeps: {
    name: string;
    metrics: { name: string }[];
    runs: { id: number; key: string }[];
    values: Record<
      string,
      Record<
        string,
        { epoch: number; value: number; ciLow: number | null; ciHigh: number | null }[]
      >
    >;
    pairs: {
      a: string;
      b: string;
      n: number;
      pearson: number | null;
      spearman: number | null;
      kendall: number | null;
    }[];
  }[];
}

function dataBlock(html: string): ReportData {
  const m = /<script type="application\/json" id="fidlab-report-data">([\s\S]*?)<\/script>/.exec(
    html,
  );
  assert.ok(m, 'the report embeds its numbers');
  return JSON.parse(m[1]) as ReportData;
}

/** Rows of a rendered table: each cell's data-value (numbers) or text. */
function tableRows(html: string, name: string): (string | number)[][] {
  const m = new RegExp(`<table data-table="${name}"[^>]*>([\\s\\S]*?)</table>`).exec(html);
  assert.ok(m, `table ${name}`);
  const body = m[1].split('<tbody>')[1];
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
    [...r[1].matchAll(/<td([^>]*)>([\s\S]*?)<\/td>/g)].map((c) => {
      const v = /data-value="([^"]*)"/.exec(c[1]);
      return v ? Number(v[1]) : c[2];
    }),
  );
}

test('fidlab report: every metric and pair, numbers equal to the store, self-contained HTML', async () => {
  const out = join(dir, 'report.html');
  const io = captureIo();
  assert.equal(await reportCommand.run(['--sweep', 'tiny-demo', '--db', db, '--out', out], io), 0);
  assert.match(
    io.stdout[0],
    new RegExp(`^wrote ${out}: 1 sweep, 2 runs, 5 metrics, 10 metric pairs, \\d+ jumps?$`),
  );
  const html = readFileSync(out, 'utf8');

  // Self-contained: inline SVG plots from ECharts, nothing fetched.
  assert.ok(
    (html.match(/<svg /g) ?? []).length >= METRICS.length + 3,
    'curves, scatter matrix, CMC, separation',
  );
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i);
  assert.doesNotMatch(html, /url\(\s*["']?https?:/i);
  assert.doesNotMatch(html, /<(script|link|img|iframe)\b[^>]*\b(src|href)=/i);

  // Every metric has its section, its curve and its recipe; every pair has its row.
  for (const m of METRICS) {
    const slug = m.replace('@', '-');
    assert.ok(html.includes(`id="metric-tiny-demo-${slug}">${m}</h4>`), `section of ${m}`);
    assert.ok(html.includes(`data-chart="tiny-demo-${slug}"`), `curve of ${m}`);
  }
  assert.match(html, /extractor recorded: facerec:pool/);
  assert.match(html, /evaluation protocol: 2/);
  const corrRows = tableRows(html, 'correlations');
  assert.equal(corrRows.length, correlations.length);

  const data = dataBlock(html);
  const s = data.sweeps[0];
  assert.deepEqual(
    s.metrics.map((m) => m.name),
    METRICS,
  );
  // Every stored value, CI included, is in the report exactly.
  let checked = 0;
  for (const r of runs)
    for (const e of epochs.get(r.id)!)
      for (const [name, d] of Object.entries(e.details)) {
        const p = s.values[name][String(r.id)].find((x) => x.epoch === e.epoch);
        assert.ok(p, `${name} of run ${r.key} epoch ${e.epoch}`);
        assert.deepEqual(
          [p.value, p.ciLow, p.ciHigh],
          [d.value, d.ciLow ?? null, d.ciHigh ?? null],
        );
        checked++;
      }
  assert.equal(checked, 2 * 2 * METRICS.length);
  // Correlations equal the store's (same points, same fid-core function), in the data and the table.
  for (const c of correlations) {
    const p = s.pairs.find((x) => x.a === c.a && x.b === c.b);
    assert.ok(p, `pair ${c.a} / ${c.b}`);
    assert.deepEqual(
      [p.n, p.pearson, p.spearman, p.kendall],
      [c.n, c.pearson, c.spearman, c.kendall],
    );
    const row = corrRows.find((x) => x[0] === c.a && x[1] === c.b);
    assert.ok(row, `table row ${c.a} / ${c.b}`);
    assert.deepEqual(row.slice(2), [
      c.n,
      c.pearson ?? 'n/a',
      c.spearman ?? 'n/a',
      c.kendall ?? 'n/a',
    ]);
  }
  // Best epochs equal the store's `best` per run, in the rendered table.
  const best = tableRows(html, 'best-epochs');
  const fidCol = 1;
  for (const [i, r] of runs.entries()) {
    const e = epochs.get(r.id)!;
    const min = e.reduce((b, x) => (x.metrics.fid_face < b.metrics.fid_face ? x : b));
    assert.match(String(best[i][fidCol]), new RegExp(`^${min.epoch} \\(`));
  }
  // The CMC comes from the full curve stored with rank_face.
  assert.match(html, /the full curve was stored with the values/);
});

test('fidlab report --format md writes Markdown with the plots and the numbers beside it', async () => {
  const out = join(dir, 'md', 'study.md');
  const io = captureIo();
  assert.equal(await reportCommand.run(['--sweep', 'tiny-demo', '--db', db, '--out', out], io), 0);
  const md = readFileSync(out, 'utf8');
  const files = readdirSync(join(dir, 'md', 'study-files'));
  assert.ok(files.includes('data.json'));
  assert.ok(files.filter((f) => f.endsWith('.svg')).length >= METRICS.length + 3);
  for (const m of METRICS) assert.ok(md.includes(`#### ${m}`), m);
  for (const f of files.filter((x) => x.endsWith('.svg')))
    assert.ok(md.includes(`](study-files/${f})`), `${f} is linked`);
  assert.match(md, /\| fid_face \| kid_face \| 4 \|/);
});

test('fidlab report: unknown sweeps and missing --sweep are one-line errors', async () => {
  await assert.rejects(
    reportCommand.run(['--sweep', 'nope', '--db', db, '--out', join(dir, 'x.html')], captureIo()),
    (e: unknown) => isFidlabError(e) && /no sweep named 'nope'/.test((e as Error).message),
  );
  assert.ok(!existsSync(join(dir, 'x.html')));
  await assert.rejects(reportCommand.run([], captureIo()), /--sweep NAME is required/);
  await assert.rejects(
    reportCommand.run(['--sweep', 'a', '--format', 'pdf'], captureIo()),
    /--format must be html or md/,
  );
});
