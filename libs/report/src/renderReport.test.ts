import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport, loadSweeps } from './buildReport.js';
import { fmt, renderHtml, renderMarkdown } from './renderReport.js';
import type { EpochData, ReportSource } from './types.js';

// A source shaped like the store's read API, with three VGG-Face layers over two generators:
// fc6 separates them clearly, relu6 a little, pool5 not at all.
const spec = {
  name: 'layers',
  evaluate: {
    metrics: [
      { name: 'fid_fc6', kind: 'fid', extractor: 'vggface:fc6', bootstrap: 20 },
      { name: 'fid_relu6', kind: 'fid', extractor: 'vggface:relu6', bootstrap: 20 },
      { name: 'fid_pool5', kind: 'fid', extractor: 'vggface:pool5', bootstrap: 20 },
      { name: 'rank_face', kind: 'rank-k', extractor: 'facerec', k: [1, 5] },
    ],
  },
  select: { metric: 'fid_fc6', goal: 'min' },
};
const curves: Record<number, Record<string, number[]>> = {
  1: {
    fid_fc6: [30, 20, 10, 10.5, 10],
    fid_relu6: [9, 8, 7, 7.5, 7],
    fid_pool5: [5, 4.5, 5, 4, 5],
  },
  2: {
    fid_fc6: [35, 28, 20, 19.5, 20],
    fid_relu6: [9, 8.5, 8, 7.6, 7.8],
    fid_pool5: [5, 4, 5, 4.5, 4],
  },
};
function epochs(run: number): EpochData[] {
  return [1, 2, 3, 4, 5].map((epoch) => {
    const details: EpochData['details'] = {};
    for (const [name, v] of Object.entries(curves[run])) {
      const x = v[epoch - 1];
      details[name] = {
        value: x,
        ciLow: x - 0.2,
        ciHigh: x + 0.3,
        extractor: `vggface:${name.slice(4)}`,
        n1: 10,
        n2: 10,
        extra: { protocol: 2, recipe: { kind: 'fid', weights_sha256: 'ab'.repeat(32) } },
      };
    }
    details.rank_face = { value: 0.1 * epoch, extra: { k: 1, cmc: [0.1 * epoch, 0.5, 1] } };
    details['rank_face@5'] = { value: 1, extra: { k: 5 } };
    return { epoch, details };
  });
}
const source: ReportSource = {
  getSweep: async (name) => (name === 'layers' ? { name, spec } : null),
  listRuns: async () => [
    { id: 2, key: 'b', parameters: { model: 'vae' }, status: 'done' },
    { id: 1, key: 'a', parameters: { model: 'unet' }, status: 'done' },
  ],
  runEpochs: async (id) => epochs(id),
};

test('the report ranks the layers, and its HTML is self-contained with the numbers embedded', async () => {
  const report = buildReport(await loadSweeps(source, ['layers']), new Date(0));
  const s = report.sweeps[0];
  assert.deepEqual(
    s.runs.map((r) => [r.id, r.label]),
    [
      [1, 'model=unet'],
      [2, 'model=vae'],
    ],
  );
  const fid = s.separation.filter((x) => x.metric.startsWith('fid_')).map((x) => x.metric);
  assert.deepEqual(fid, ['fid_fc6', 'fid_relu6', 'fid_pool5']);
  const html = renderHtml(report);
  assert.match(
    html,
    /VGG-Face layers \(&quot;fc6 or relu6 or pool5\?&quot;\): fc6 &gt; relu6 &gt; pool5\./,
  );
  assert.match(html, /weights sha256: (ab){32}/);
  assert.match(html, /the full curve was stored with the values/);
  assert.equal((html.match(/<svg /g) ?? []).length, 5 + 1 + 1 + 1); // curves, matrix, CMC, S
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i);
  const data = JSON.parse(
    /<script type="application\/json" id="fidlab-report-data">([\s\S]*?)<\/script>/.exec(html)![1],
  ) as typeof report;
  assert.equal(data.sweeps[0].values.fid_fc6[2][2].value, 20);
  assert.equal(data.sweeps[0].pairs.length, 10);
});

test('Markdown: the plots and data.json beside the page, every table as a pipe table', async () => {
  const report = buildReport(await loadSweeps(source, ['layers']), new Date(0));
  const { markdown, files } = renderMarkdown(report, 'r-files');
  const svgs = [...files.keys()].filter((f) => f.endsWith('.svg'));
  assert.equal(svgs.length, 8);
  for (const f of svgs) {
    assert.ok(markdown.includes(`(r-files/${f})`));
    assert.match(files.get(f)!, /^<svg /);
  }
  assert.ok(files.has('data.json'));
  assert.match(markdown, /\| fid_fc6 \| fid_relu6 \| 10 \|/);
});

test('unknown sweeps are refused by name; numbers print with 4 significant digits', async () => {
  await assert.rejects(loadSweeps(source, ['nope']), /no sweep named 'nope'/);
  assert.deepEqual(
    [fmt(319043.5419), fmt(1234567), fmt(0.000123), fmt(null), fmt(Infinity)],
    ['319043.5', '1.235e+6', '1.230e-4', 'n/a', '∞'],
  );
});
