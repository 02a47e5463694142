// The dashboard in a real browser (Debian's chromium driven by playwright-core) against the API
// server on loopback with a seeded embedded store: every page loads without console errors, the
// numbers drawn are the API's, sorting works, progress moves live, and each page is screenshotted
// into test-output/ (FIDLAB_DASHBOARD_BENCH=1 also writes bench/results/dashboard.md).
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { artifactSamples, createApiServer, type ApiServer } from '@fidlab/api';
import { correlate } from '@fidlab/fid-core';
import { openStore, type Store } from '@fidlab/store';
import type { BrowserContext, Page } from 'playwright-core';
import { seed, type Seeded } from './seed.js';

const here = dirname(fileURLToPath(import.meta.url));
const appDir = join(here, '..');
const dist = join(appDir, 'dist');
const outDir = join(appDir, 'test-output');
const CHROMIUM = process.env.FIDLAB_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const missing = !existsSync(CHROMIUM)
  ? `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`
  : !existsSync(join(dist, 'index.html'))
    ? `the dashboard is not built (${dist}/index.html): npx nx run dashboard:build`
    : null;
const skip = missing !== null && process.env.FIDLAB_REQUIRE_SERVICES !== '1' ? missing : false;
if (missing !== null && !skip) throw new Error(`dashboard browser tests: ${missing}`);
if (skip) console.log(`# skipped dashboard browser tests: ${skip}`);

describe('dashboard in chromium', { skip }, () => {
  let root: string;
  let store: Store;
  let server: ApiServer;
  let token: string;
  let seeded: Seeded;
  let context: BrowserContext;
  const errors: string[] = [];
  const timings: Record<string, number> = {};
  const runs: Record<string, number[]> = {};

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'fidlab-dashboard-'));
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    store = await openStore({ url: 'memory:' });
    seeded = await seed(store, root);
    token = await store.createToken('alice');
    server = await createApiServer({
      store,
      port: 0,
      publicRead: false,
      dashboardDir: dist,
      pollMs: 200,
      samples: artifactSamples(seeded.artifacts.store, join(root, 'samples-cache')),
    });
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(join(root, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1400, height: 1000 },
    });
  });

  after(async () => {
    await context?.close();
    await server?.close();
    await store?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function open(path: string, shot: string, ready: string, withToken = true): Promise<Page> {
    const page = await context.newPage();
    // Each test stands alone: the token is in the page's storage unless the test enters it.
    if (withToken) await page.addInitScript((t) => localStorage.setItem('fidlab.token', t), token);
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${shot}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${shot}: ${e.message}`));
    await page.goto(server.url + path);
    await page.waitForSelector(ready, { timeout: 20_000 });
    return page;
  }

  async function renderMs(page: Page, name: string): Promise<number> {
    await page.waitForFunction(
      (n) => performance.getEntriesByName(`fidlab:rendered:${n}`).length > 0,
      name,
      { timeout: 20_000 },
    );
    return page.evaluate((n) => {
      const data = performance.getEntriesByName(`fidlab:data:${n}`).at(-1)!.startTime;
      const done = performance.getEntriesByName(`fidlab:rendered:${n}`).at(-1)!.startTime;
      return done - data;
    }, name);
  }

  /** The median of three renders of the page (it is reloaded twice): this machine is shared. */
  async function medianRenderMs(page: Page, name: string, ready: string): Promise<number> {
    const times = [await renderMs(page, name)];
    for (let i = 0; i < 2; i++) {
      await page.reload();
      await page.waitForSelector(ready, { timeout: 20_000 });
      times.push(await renderMs(page, name));
    }
    runs[name] = times;
    return times.sort((a, b) => a - b)[1];
  }

  async function shoot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
  }

  it('asks for a token, then shows the sweeps with owner, tags and filters', async () => {
    const page = await open('/', 'sweeps-token', 'input[aria-label="API token"]', false);
    await page.evaluate(() => localStorage.removeItem('fidlab.token'));
    await page.reload();
    await page.waitForSelector('text=needs a token');
    assert.match((await page.textContent('main'))!, /needs a token/);
    await page.fill('input[aria-label="API token"]', token);
    await page.click('text=use token');
    await page.waitForSelector('[data-testid=sweeps]');
    assert.equal(await page.textContent('[data-testid=me]'), 'alice');
    const row = page.locator('tr[data-sweep="cufs-study"]');
    assert.match((await row.textContent())!, /alice/);
    assert.match((await row.textContent())!, /baseline/);
    assert.match((await row.textContent())!, /6\/6 trials/);
    timings.sweeps = await renderMs(page, 'sweeps');
    await shoot(page, '01-sweeps');
    // Filter by owner, then by tag: the URL carries both.
    await page.selectOption('select >> nth=0', 'bob');
    await page.waitForFunction(() => location.search.includes('owner=bob'));
    assert.equal(await page.locator('tr[data-sweep]').count(), 1);
    await page.selectOption('select >> nth=0', '');
    await page.selectOption('select >> nth=1', 'cufs');
    assert.deepEqual(
      await page
        .locator('tr[data-sweep]')
        .evaluateAll((rs) => rs.map((r) => r.getAttribute('data-sweep'))),
      ['cufs-study'],
    );
    await page.close();
  });

  it('a sweep: runs table sorts, filters and highlights the best run and epoch', async () => {
    const page = await open('/sweeps/cufs-study', 'sweep', '[data-testid=runs] tbody tr[data-run]');
    const best = await store.best({ sweep: 'cufs-study', metric: 'fid_inception', goal: 'min' });
    assert.ok(best);
    const bestRow = page.locator('tr.best');
    assert.equal(await bestRow.getAttribute('data-run'), best.run);
    assert.match(
      (await bestRow.locator('td.best-cell').textContent())!,
      new RegExp(`@${best.epoch}$`),
    );
    assert.match(
      (await page.textContent('[data-testid=best]'))!,
      new RegExp(`epoch ${best.epoch} `),
    );
    await shoot(page, '02-sweep');
    // Sorted by the select metric ascending by default; click: descending; values agree.
    const values = async () =>
      page
        .locator('tbody td[data-metric="fid_inception"]')
        .evaluateAll((tds) => tds.map((td) => parseFloat(td.textContent!)));
    const asc = await values();
    assert.deepEqual(
      asc,
      [...asc].sort((a, b) => a - b),
    );
    await page.click('th[data-sort="m:fid_inception"]');
    await page.waitForFunction(() => location.search.includes('dir=desc'));
    const desc = await values();
    assert.deepEqual(
      desc,
      [...asc].sort((a, b) => b - a),
    );
    await page.click('th[data-sort="key"]');
    const keys = await page
      .locator('tbody tr[data-run]')
      .evaluateAll((rs) => rs.map((r) => r.getAttribute('data-run')!));
    assert.deepEqual(keys, [...keys].sort());
    await page.fill('[data-testid=filter]', 'noskip');
    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-run]').length === 3);
    // The state is in the URL: a reload shows the same view.
    await page.reload();
    await page.waitForSelector('tbody tr[data-run]');
    assert.equal(await page.locator('tbody tr[data-run]').count(), 3);
    assert.equal(await page.inputValue('[data-testid=filter]'), 'noskip');
    await page.close();
  });

  it('a run: one chart per metric with a point per epoch, best epochs as runs.best says', async () => {
    const run = seeded.study.runs[0];
    const page = await open(
      `/runs/${run.key}?sweep=cufs-study`,
      'run',
      'figure[data-metric] canvas',
    );
    await page.waitForSelector('[data-testid=samples] img');
    timings.studyRun = await renderMs(page, 'run');
    for (const [metric, goal] of [
      ['fid_inception', 'min'],
      ['fid_vgg_fc6', 'min'],
      ['kid_inception', 'min'],
      ['rank_facerec', 'max'],
    ] as const) {
      const points = await page.evaluate((m) => {
        const c = (
          window as unknown as {
            fidlabCharts: Map<
              string,
              { getOption(): { series: { name: string; data: unknown[] }[] } }
            >;
          }
        ).fidlabCharts.get(`run:${m}`)!;
        return c.getOption().series.find((s) => s.name === m)!.data.length;
      }, metric);
      assert.equal(points, seeded.study.epochs, `${metric} points`);
      const best = await store.best({ run: run.id, metric, goal });
      const shown = await page.textContent(
        `figure[data-metric="${metric}"] [data-testid=best-epoch]`,
      );
      assert.equal(Number(shown), best!.epoch, `${metric} best epoch`);
    }
    // The CI band is drawn for the metric that has one.
    const bands = await page.evaluate(() => {
      const c = (
        window as unknown as {
          fidlabCharts: Map<string, { getOption(): { series: { name: string }[] } }>;
        }
      ).fidlabCharts;
      return [c.get('run:fid_inception')!, c.get('run:kid_inception')!].map((x) =>
        x.getOption().series.some((s) => s.name === '95% CI'),
      );
    });
    assert.deepEqual(bands, [true, false]);
    // Samples: the last epoch with samples, three rows of input / generated / ground truth.
    assert.equal(await page.locator('[data-testid=samples] tbody tr').count(), 3);
    assert.equal(await page.locator('[data-testid=samples] img').count(), 9);
    await shoot(page, '03-run');
    await page.check('[data-testid=log]');
    await page.waitForFunction(() => location.search.includes('log=1'));
    const axis = await page.evaluate(() => {
      const c = (
        window as unknown as {
          fidlabCharts: Map<string, { getOption(): { yAxis: { type: string }[] } }>;
        }
      ).fidlabCharts;
      return c.get('run:fid_inception')!.getOption().yAxis[0].type;
    });
    assert.equal(axis, 'log');
    await page.close();
  });

  it('a run whose samples are in an artifact store shows them, fetched and verified by the server', async () => {
    const run = seeded.artifacts.run;
    const page = await open(
      `/runs/${run.key}?sweep=cufs-study`,
      'run-artifact',
      '[data-testid=samples] img',
    );
    assert.equal(await page.locator('[data-testid=samples] tbody tr').count(), 3);
    // Every image decoded (a 404 or a refused copy would leave it empty).
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLImageElement>('[data-testid=samples] img')].every(
          (i) => i.complete && i.naturalWidth === 32,
        ),
      null,
      { timeout: 20_000 },
    );
    assert.equal(await page.locator('[data-testid=samples] img').count(), 9);
    await shoot(page, '03b-run-artifact-samples');
    await page.close();
  });

  it('run files: samples are served, ../ and symlinks out of the run directory are not', async () => {
    const id = seeded.study.samplesRun;
    const auth = { authorization: `Bearer ${token}` };
    const ok = await fetch(`${server.url}/files/runs/${id}/epoch-0012/samples/sample-000.png`, {
      headers: auth,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'image/png');
    assert.equal(
      (await fetch(`${server.url}/files/runs/${id}/epoch-0012/samples/sample-000.png`)).status,
      401,
    );
    for (const bad of [
      'epoch-0012/samples/sample-009.png', // a symlink to a file outside
      '../../../secret.txt',
      '..%2F..%2F..%2Fsecret.txt',
      'epoch-0012/..%2F..%2F..%2F..%2Fsecret.txt',
      encodeURIComponent(seeded.outsideFile),
    ]) {
      const res = await fetch(`${server.url}/files/runs/${id}/${bad}`, { headers: auth });
      assert.equal(res.status, 404, bad);
      assert.doesNotMatch(await res.text(), /not for the web/);
    }
  });

  it("compare: the correlations shown are fid-core's over the same points", async () => {
    const page = await open(
      '/compare?sweep=cufs-study&a=fid_inception&b=fid_vgg_fc6&color=param:model',
      'compare',
      '[data-testid=pearson]',
    );
    await page.waitForSelector('[data-chart="compare:overlay"] canvas');
    timings.compare = await renderMs(page, 'compare');
    const c = await store.correlationPoints({
      sweep: 'cufs-study',
      a: 'fid_inception',
      b: 'fid_vgg_fc6',
    });
    const want = correlate(
      c.points.map((p) => p.a),
      c.points.map((p) => p.b),
    );
    assert.equal(Number(await page.textContent('[data-testid=n]')), 6 * 12);
    for (const k of ['pearson', 'spearman', 'kendall'] as const) {
      const shown = Number(await page.getAttribute(`[data-testid=${k}]`, 'data-value'));
      assert.equal(shown, want[k], k);
    }
    const points = await page.evaluate(() => {
      const c = (
        window as unknown as {
          fidlabCharts: Map<string, { getOption(): { series: { data: unknown[] }[] } }>;
        }
      ).fidlabCharts;
      return c.get('compare:scatter')!.getOption().series[0].data.length;
    });
    assert.equal(points, 72);
    await shoot(page, '04-compare');
    await page.close();
  });

  it('workers: who runs what, last heartbeat', async () => {
    const page = await open('/workers', 'workers', '[data-testid=workers] tbody tr');
    assert.match(
      (await page.textContent('[data-testid=workers]'))!,
      /gpu-box-1.*cufs-study\/unet-s1/s,
    );
    await shoot(page, '05-workers');
    await page.close();
  });

  it('notes and tags: signed by the token, shown to readers', async () => {
    const page = await open('/sweeps/cufs-study', 'notes', '[data-testid=runs]');
    await page.fill('input[aria-label=note]', 'unet-s1 epoch 9 looks best by eye');
    await page.click('text=add note');
    await page.waitForSelector('.note >> text=looks best by eye');
    const notes = await store.annotations({ sweep: 'cufs-study' });
    assert.equal(notes.notes.at(-1)?.author, 'alice');
    await page.close();
  });

  it("a live sweep's progress moves without a reload", async () => {
    const page = await open('/', 'live', 'tr[data-sweep="live-sweep"]');
    const progress = page.locator('tr[data-sweep="live-sweep"] [data-testid=progress]');
    await page.waitForFunction(() =>
      /0 epochs/.test(
        document.querySelector('tr[data-sweep="live-sweep"] [data-testid=progress]')?.textContent ??
          '',
      ),
    );
    const [a, b] = seeded.live.runIds;
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await store.recordEpoch(a, { epoch: 1, losses: { G_L1: 3 } });
    await store.recordMetrics(a, 1, [{ name: 'fid', value: 50 }]);
    await page.waitForFunction(
      () =>
        /1 epochs/.test(
          document.querySelector('tr[data-sweep="live-sweep"] [data-testid=progress]')
            ?.textContent ?? '',
        ),
      null,
      { timeout: 10_000 },
    );
    await store.setRunStatus(a, 'done');
    await page.waitForFunction(
      () =>
        /1\/2 trials/.test(
          document.querySelector('tr[data-sweep="live-sweep"] [data-testid=progress]')
            ?.textContent ?? '',
        ),
      null,
      { timeout: 10_000 },
    );
    await store.recordEpoch(b, { epoch: 2, losses: { G_L1: 3 } });
    await page.waitForFunction(
      () =>
        /3 epochs/.test(
          document.querySelector('tr[data-sweep="live-sweep"] [data-testid=progress]')
            ?.textContent ?? '',
        ),
      null,
      { timeout: 10_000 },
    );
    // Same document all along (no reload): the marker set before is still there.
    assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 1);
    assert.match((await progress.textContent())!, /1\/2 trials, 3 epochs/);
    await shoot(page, '06-live');
    await page.close();
  });

  it('renders a 200 x 12 run and a 1,000-run sweep (times to bench/results/dashboard.md)', async () => {
    let page = await open(
      `/runs/${seeded.big.key}?sweep=long-run`,
      'big-run',
      'figure[data-metric] canvas',
    );
    timings.bigRun = await medianRenderMs(page, 'run', 'figure[data-metric] canvas');
    assert.equal(await page.locator('figure[data-metric]').count(), 12);
    const points = await page.evaluate(() => {
      const c = (
        window as unknown as {
          fidlabCharts: Map<
            string,
            { getOption(): { series: { name: string; data: unknown[] }[] } }
          >;
        }
      ).fidlabCharts;
      return c
        .get('run:metric_05')!
        .getOption()
        .series.find((s) => s.name === 'metric_05')!.data.length;
    });
    assert.equal(points, 200);
    await shoot(page, '07-run-200x12');
    await page.close();
    page = await open('/sweeps/wide-sweep', 'wide', '[data-testid=runs] tbody tr[data-run]');
    timings.wideSweep = await medianRenderMs(
      page,
      'sweep',
      '[data-testid=runs] tbody tr[data-run]',
    );
    assert.equal(await page.textContent('[data-testid=count]'), '1000 of 1000 runs');
    // Rows are drawn as they scroll into view: the last run is there at the bottom.
    await page.click('th[data-sort="key"]');
    await page.locator('.table-wrap').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.waitForSelector('tr[data-run="t0999"]');
    assert.ok((await page.locator('tr[data-run]').count()) < 200, 'only rows in view are drawn');
    await shoot(page, '08-sweep-1000');
    await page.close();

    const assets = readdirSync(join(dist, 'assets'));
    const weigh = (f: string) => {
      const b = readFileSync(join(dist, 'assets', f));
      return {
        file: f,
        bytes: statSync(join(dist, 'assets', f)).size,
        gzip: gzipSync(b, { level: 9 }).length,
      };
    };
    const files = assets.filter((f) => /\.(js|css)$/.test(f)).map(weigh);
    const sum = (xs: { bytes: number; gzip: number }[]) =>
      xs.reduce((a, x) => ({ bytes: a.bytes + x.bytes, gzip: a.gzip + x.gzip }), {
        bytes: 0,
        gzip: 0,
      });
    const first = sum(files.filter((f) => !f.file.startsWith('echarts')));
    const all = sum(files);
    const ms = (v: number | undefined) => (v === undefined ? 'not run' : `${v.toFixed(0)} ms`);
    const report = [
      '# Dashboard: render times and page weight',
      '',
      `Measured by \`apps/dashboard/test/dashboard.test.ts\` in headless Debian chromium on this machine (${new Date().toISOString().slice(0, 10)}); time from the page's data arriving (\`fidlab:data:*\` mark) to its DOM painted and every chart's ECharts \`finished\` event (\`fidlab:rendered:*\`). Reference: the 6-run study's sweep list and a 12-epoch x 4-metric run, rendered in the same session. The two large views: median of 3 loads (${runs.run?.map((t) => t.toFixed(0)).join(', ')} ms; ${runs.sweep?.map((t) => t.toFixed(0)).join(', ')} ms). Load average during the run: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(
          ' ',
        )} on ${cpus().length} CPUs${process.env.FIDLAB_BENCH_NOTE ? ` (${process.env.FIDLAB_BENCH_NOTE})` : ''}.`,
      '',
      '| view | data | render | vs reference |',
      '|---|---|---|---|',
      `| sweeps list (reference) | 4 sweeps | ${ms(timings.sweeps)} | 1.0x |`,
      `| run (reference) | 12 epochs x 4 metrics + losses + samples | ${ms(timings.studyRun)} | 1.0x |`,
      `| run | 200 epochs x 12 metrics + losses | ${ms(timings.bigRun)} | ${(timings.bigRun / timings.studyRun).toFixed(1)}x the small run |`,
      `| sweep runs table | 1,000 runs x 12 metrics | ${ms(timings.wideSweep)} | ${(timings.wideSweep / timings.sweeps).toFixed(1)}x the sweeps list |`,
      `| compare | 72 points + 5 curves | ${ms(timings.compare)} | |`,
      '',
      'Goal: each under 1 s after its data arrives.',
      '',
      '## Page weight (vite build, minified)',
      '',
      '| file | bytes | gzip -9 |',
      '|---|---|---|',
      ...files.map(
        (f) => `| ${f.file.replace(/-[A-Za-z0-9_-]{8}\./, '.')} | ${f.bytes} | ${f.gzip} |`,
      ),
      `| first load (app + css, no charts) | ${first.bytes} | ${first.gzip} |`,
      `| total with ECharts (run and compare pages) | ${all.bytes} | ${all.gzip} |`,
      '',
    ].join('\n');
    writeFileSync(join(outDir, 'dashboard.md'), report);
    console.log(report);
    if (process.env.FIDLAB_DASHBOARD_BENCH === '1')
      writeFileSync(join(appDir, '..', '..', 'bench', 'results', 'dashboard.md'), report);
    for (const [k, v] of Object.entries(timings)) assert.ok(Number.isFinite(v) && v >= 0, k);
  });

  it('no page logged a console error', () => {
    assert.deepEqual(errors, []);
  });
});
