// Renders a Report as one self-contained HTML page (inline SVG, inline CSS, no network
// references) or as Markdown with the SVG plots as files beside it. Both embed the report's
// numbers as JSON (HTML: <script type="application/json" id="fidlab-report-data">; Markdown: a
// data.json beside the plots) so that they can be checked against the store.
import type { MetricInfo, Separation } from './analysis.js';
import { JUMP_RULE, SEPARATION_RULE } from './methods.js';
import type { Report, SweepReport } from './buildReport.js';
import { cmcChart, metricChart, scatterMatrix, separationChart } from './charts.js';

/** A number for reading: 4 significant digits, one decimal from 1000, exponent form outside 1e-3..1e6. */
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  if (v === Infinity) return '∞';
  if (v === -Infinity) return '-∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(3);
  if (a >= 1e3) return String(Math.round(v * 10) / 10); // keep every integer digit
  return String(Number(v.toPrecision(4)));
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const pct = (num: number, den: number) => (den > 0 ? `${((100 * num) / den).toFixed(0)}%` : 'n/a');

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** The report's numbers as JSON (Infinity as the string "Infinity"; `</` escaped for <script>). */
export function reportJson(report: Report): string {
  return JSON.stringify(report, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  );
}

/** A slug safe in ids and file names. */
function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '-');
}

interface Block {
  kind: 'h' | 'p' | 'table' | 'svg' | 'list' | 'pre';
  level?: number;
  id?: string;
  text?: string;
  /** table: header + rows of cells; a number cell keeps its full value for data-value. */
  header?: string[];
  rows?: (string | number | null)[][];
  items?: string[];
  svg?: string;
  name?: string;
}

function recipeLines(m: MetricInfo): string[] {
  const lines: string[] = [];
  lines.push(`kind ${m.kind}, ${m.goal === 'min' ? 'lower' : 'higher'} is better`);
  if (m.declaredExtractor) lines.push(`extractor in the sweep file: ${m.declaredExtractor}`);
  if (m.extractors.length) lines.push(`extractor recorded: ${m.extractors.join('; ')}`);
  if (m.bootstrap !== undefined) lines.push(`bootstrap: ${m.bootstrap} resamples (95% CI)`);
  if (m.samples.length) lines.push(`samples: ${m.samples.join('; ')}`);
  lines.push(
    `evaluation protocol: ${m.protocols.join(', ')}${m.protocols.length > 1 ? ' (mixed: values of different protocols are not comparable)' : ''}`,
  );
  if (m.recipes.length === 0) {
    lines.push('recipe: no extra.recipe stored with these values (extractor and protocol above)');
  } else {
    m.recipes.forEach((r, i) => {
      const sha = findSha256(r);
      const prefix = m.recipes.length > 1 ? `recipe ${i + 1}` : 'recipe';
      lines.push(`${prefix}: ${flatRecipe(r)}`);
      if (sha.length) lines.push(`weights sha256: ${sha.join(', ')}`);
    });
  }
  return lines;
}

function flatRecipe(r: unknown): string {
  if (r === null || typeof r !== 'object') return JSON.stringify(r);
  return Object.entries(r as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

function findSha256(r: unknown, out: string[] = []): string[] {
  if (r !== null && typeof r === 'object')
    for (const [k, v] of Object.entries(r as Record<string, unknown>)) {
      if (/sha256/i.test(k) && typeof v === 'string') out.push(v);
      else findSha256(v, out);
    }
  return out;
}

/** The ranked answer to "which feature layer separates the generators best?" (FID metrics). */
function layerAnswer(s: SweepReport): string {
  const byName = new Map(s.metrics.map((m) => [m.name, m]));
  const fid = s.separation.filter((x) => byName.get(x.metric)?.kind === 'fid' && x.ratio !== null);
  const short = (x: Separation) =>
    `${x.metric} (S ${fmt(x.ratio)}, ${x.separatedPairs}/${x.pairs} run pairs separated)`;
  if (fid.length === 0)
    return 'No FID metric has values in at least two runs: no ranking of feature layers.';
  const parts = [
    `Feature layers (FID metrics), best-separating first: ${fid.map(short).join(' > ')}.`,
  ];
  const vgg = fid.filter((x) =>
    byName.get(x.metric)!.extractors.some((e) => e.startsWith('vggface:')),
  );
  if (vgg.length > 1)
    parts.push(
      `VGG-Face layers ("fc6 or relu6 or pool5?"): ${vgg.map((x) => byName.get(x.metric)!.extractors[0].slice('vggface:'.length)).join(' > ')}.`,
    );
  if (new Set(fid.map((x) => x.usesCi)).size > 1)
    parts.push(
      'Caution: some of these FID metrics have bootstrap CIs and some do not; the CI adds to the within-run noise, so S favours the metrics without one.',
    );
  return parts.join(' ');
}

function sweepBlocks(s: SweepReport): Block[] {
  const blocks: Block[] = [];
  const label = new Map(s.runs.map((r) => [r.id, r.label]));
  const color = new Map(s.runs.map((r) => [r.id, r.color]));
  const sid = slug(s.name);
  blocks.push({ kind: 'h', level: 2, id: `sweep-${sid}`, text: `Sweep ${s.name}` });
  blocks.push({
    kind: 'p',
    text: `${s.trial === 'identity' ? 'Identity fine-tuning' : 'Generator'} trials: ${plural(s.runs.length, 'run')}, ${plural(s.metrics.length, 'metric')}, ${plural(s.pairs.length, 'metric pair')}.${s.select ? ` The sweep selects by ${s.select.metric} (${s.select.goal}).` : ''}`,
  });
  blocks.push({
    kind: 'table',
    name: 'runs',
    header: ['run', 'key', 'status', 'epochs', 'parameters'],
    rows: s.runs.map((r) => [r.label, r.key, r.status, r.epochs, JSON.stringify(r.parameters)]),
  });

  // Curves, jumps and recipe per metric.
  blocks.push({ kind: 'h', level: 3, id: `curves-${sid}`, text: 'Metrics by epoch' });
  blocks.push({ kind: 'p', text: JUMP_RULE });
  for (const m of s.metrics) {
    const jumps = s.jumps
      .filter((j) => j.metric === m.name)
      .map((j) => ({ ...j, label: label.get(j.runId) ?? String(j.runId) }));
    blocks.push({ kind: 'h', level: 4, id: `metric-${sid}-${slug(m.name)}`, text: m.name });
    blocks.push({
      kind: 'svg',
      name: `${sid}-${slug(m.name)}`,
      svg: metricChart(
        m,
        s.runs.map((r) => ({
          label: r.label,
          color: r.color,
          points: s.values[m.name][r.id] ?? [],
        })),
        jumps,
      ),
    });
    blocks.push({ kind: 'list', items: recipeLines(m) });
    if (jumps.length)
      blocks.push({
        kind: 'table',
        name: `jumps-${m.name}`,
        header: ['run', 'from epoch', 'to epoch', 'before', 'after', 'Δ', 'rule', 'score'],
        rows: jumps.map((j) => [
          j.label,
          j.from,
          j.to,
          j.before,
          j.after,
          j.delta,
          j.rule,
          j.score,
        ]),
      });
    else blocks.push({ kind: 'p', text: `No jumps in ${m.name}.` });
  }

  // Best epochs and agreement.
  const a = s.agreement;
  blocks.push({ kind: 'h', level: 3, id: `best-${sid}`, text: 'Best epochs and agreement' });
  blocks.push({
    kind: 'p',
    text: `Best epoch of each run by each metric (value in brackets; ties: the lowest epoch). "modal" is the epoch most metrics pick; "pairs agreeing" counts metric pairs that pick the same epoch. Overall, ${a.agreeingPairs} of ${a.pairs} (run, metric pair)s agree (${pct(a.agreeingPairs, a.pairs)}).`,
  });
  blocks.push({
    kind: 'table',
    name: 'best-epochs',
    header: ['run', ...a.metrics, 'modal epoch', 'metrics at modal', 'pairs agreeing'],
    rows: [
      ...a.runs.map((r) => [
        label.get(r.runId) ?? String(r.runId),
        ...a.metrics.map((n) => (r.best[n] ? `${r.best[n].epoch} (${fmt(r.best[n].value)})` : '—')),
        r.modalEpoch,
        `${r.modalCount}/${Object.keys(r.best).length}`,
        `${r.agreeingPairs}/${r.pairs} (${pct(r.agreeingPairs, r.pairs)})`,
      ]),
      [
        'overall best',
        ...a.metrics.map((n) => {
          const o = a.overall[n];
          return o ? `${label.get(o.runId)} @ ${o.epoch} (${fmt(o.value)})` : '—';
        }),
        '',
        '',
        `${a.agreeingPairs}/${a.pairs} (${pct(a.agreeingPairs, a.pairs)})`,
      ],
    ],
  });
  if (a.metrics.length > 1) {
    blocks.push({
      kind: 'p',
      text: 'Pairwise agreement: the fraction of runs in which the two metrics pick the same best epoch.',
    });
    blocks.push({
      kind: 'table',
      name: 'pair-agreement',
      header: ['', ...a.metrics],
      rows: a.metrics.map((n, i) => [n, ...a.pairRate[i]]),
    });
  }

  // Correlations.
  blocks.push({ kind: 'h', level: 3, id: `pairs-${sid}`, text: 'Metric against metric' });
  blocks.push({
    kind: 'p',
    text: `Every (run, epoch) where both metrics were recorded is one point (coloured by run). Below the diagonal: the scatter plots; above it: Pearson r, Spearman ρ, Kendall τ-b (fid-core's correlate, as scipy.stats) and n, each cell tinted by ρ (blue positive, red negative). Coefficients need at least 3 points and are undefined (n/a) for a constant series.`,
  });
  if (s.metrics.length > 1)
    blocks.push({
      kind: 'svg',
      name: `${sid}-scatter-matrix`,
      svg: scatterMatrix(
        s.metrics.map((m) => m.name),
        s.pairs,
        color,
      ),
    });
  blocks.push({
    kind: 'table',
    name: 'correlations',
    header: ['metric a', 'metric b', 'n', 'Pearson', 'Spearman', 'Kendall'],
    rows: s.pairs.map((p) => [p.a, p.b, p.n, p.pearson, p.spearman, p.kendall]),
  });

  // CMC.
  if (s.cmc.length) {
    blocks.push({ kind: 'h', level: 3, id: `cmc-${sid}`, text: 'Identity metrics: rank-k / CMC' });
    for (const f of s.cmc) {
      blocks.push({
        kind: 'svg',
        name: `${sid}-cmc-${slug(f.family)}`,
        svg: cmcChart(
          f,
          (id) => label.get(id) ?? String(id),
          (id) => color.get(id) ?? '#999',
        ),
      });
      const full = f.curves.some((c) => c.full);
      blocks.push({
        kind: 'p',
        text: `${f.family}: ${f.metrics.join(', ')}; ${full ? 'the full curve was stored with the values (extra.cmc)' : 'points at the recorded ks'}, read at each run's best epoch by ${f.metrics[0]}.`,
      });
      const ks = [...new Set(f.curves.flatMap((c) => c.points.map((p) => p.k)))].sort(
        (x, y) => x - y,
      );
      const shownKs =
        ks.length > 12 ? ks.filter((k) => k <= 10 || k % 10 === 0 || k === ks[ks.length - 1]) : ks;
      blocks.push({
        kind: 'table',
        name: `cmc-${f.family}`,
        header: ['run', 'epoch', ...shownKs.map((k) => `rank-${k}`)],
        rows: f.curves.map((c) => [
          label.get(c.runId) ?? String(c.runId),
          c.epoch,
          ...shownKs.map((k) => c.points.find((p) => p.k === k)?.value ?? null),
        ]),
      });
    }
  }

  // Separation.
  blocks.push({
    kind: 'h',
    level: 3,
    id: `separation-${sid}`,
    text: 'Which features separate the generators best',
  });
  blocks.push({ kind: 'p', text: SEPARATION_RULE });
  blocks.push({ kind: 'p', text: layerAnswer(s) });
  if (s.separation.some((x) => x.ratio !== null && Number.isFinite(x.ratio) && x.ratio > 0))
    blocks.push({ kind: 'svg', name: `${sid}-separation`, svg: separationChart(s.separation) });
  const byName = new Map(s.metrics.map((m) => [m.name, m]));
  blocks.push({
    kind: 'table',
    name: 'separation',
    header: [
      'rank',
      'metric',
      'extractor',
      'S',
      'between',
      'within',
      'separated run pairs',
      'CI in within',
    ],
    rows: s.separation.map((x, i) => [
      i + 1,
      x.metric,
      byName.get(x.metric)?.extractors.join('; ') ?? '',
      x.ratio,
      x.between,
      x.within,
      `${x.separatedPairs}/${x.pairs}`,
      x.usesCi ? 'yes' : 'no',
    ]),
  });
  return blocks;
}

const CSS = `body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
ul.recipe{font-size:13px;color:#444;margin-top:0}
figure{margin:.5em 0}figure svg{max-width:100%;height:auto}
nav ul{columns:2;font-size:14px}h4{margin-bottom:.2em}div.scroll{overflow-x:auto}`;

function htmlCell(v: string | number | null): string {
  if (typeof v === 'number')
    return `<td class="num" data-value="${Number.isFinite(v) ? String(v) : String(v)}">${esc(fmt(v))}</td>`;
  if (v === null) return '<td class="num">n/a</td>';
  return `<td>${esc(v)}</td>`;
}

/** The report as one self-contained HTML page. */
export function renderHtml(report: Report): string {
  const title = `fidlab report: ${report.sweeps.map((s) => s.name).join(', ')}`;
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1>`);
  body.push(
    `<p>Generated ${esc(report.generatedAt)} from the experiment store. Every number below is read from the stored values; the same numbers are embedded as JSON (<code>#fidlab-report-data</code>).</p>`,
  );
  const toc = report.sweeps.map(
    (s) =>
      `<li><a href="#sweep-${slug(s.name)}">${esc(s.name)}</a>: <a href="#curves-${slug(s.name)}">curves</a>, <a href="#best-${slug(s.name)}">best epochs</a>, <a href="#pairs-${slug(s.name)}">pairs</a>${s.cmc.length ? `, <a href="#cmc-${slug(s.name)}">CMC</a>` : ''}, <a href="#separation-${slug(s.name)}">separation</a></li>`,
  );
  body.push(`<nav><ul>${toc.join('')}</ul></nav>`);
  for (const s of report.sweeps)
    for (const b of sweepBlocks(s)) {
      switch (b.kind) {
        case 'h':
          body.push(`<h${b.level} id="${esc(b.id ?? '')}">${esc(b.text!)}</h${b.level}>`);
          break;
        case 'p':
          body.push(`<p>${esc(b.text!)}</p>`);
          break;
        case 'list':
          body.push(
            `<ul class="recipe">${b.items!.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>`,
          );
          break;
        case 'pre':
          body.push(`<pre>${esc(b.text!)}</pre>`);
          break;
        case 'svg':
          body.push(`<figure data-chart="${esc(b.name!)}">${b.svg}</figure>`);
          break;
        case 'table':
          body.push(
            `<div class="scroll"><table data-table="${esc(b.name!)}" data-sweep="${esc(s.name)}"><thead><tr>${b.header!.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${b.rows!.map((r) => `<tr>${r.map(htmlCell).join('')}</tr>`).join('')}</tbody></table></div>`,
          );
          break;
      }
    }
  const data = reportJson(report).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${CSS}</style></head>
<body>
${body.join('\n')}
<script type="application/json" id="fidlab-report-data">${data}</script>
</body></html>
`;
}

function mdCell(v: string | number | null): string {
  const s = typeof v === 'number' || v === null ? fmt(v) : v;
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * The report as Markdown: the page text, and the files to write beside it (`<dir>/<name>.svg`
 * for each plot, `<dir>/data.json` with the numbers). `dir` is relative to the Markdown file.
 */
export function renderMarkdown(
  report: Report,
  dir: string,
): { markdown: string; files: Map<string, string> } {
  const files = new Map<string, string>();
  const out: string[] = [];
  out.push(`# fidlab report: ${report.sweeps.map((s) => s.name).join(', ')}`, '');
  out.push(
    `Generated ${report.generatedAt} from the experiment store; the numbers are also in [data.json](${dir}/data.json).`,
    '',
  );
  for (const s of report.sweeps)
    for (const b of sweepBlocks(s)) {
      switch (b.kind) {
        case 'h':
          out.push(`${'#'.repeat(b.level!)} ${b.text}`, '');
          break;
        case 'p':
        case 'pre':
          out.push(b.text!, '');
          break;
        case 'list':
          out.push(...b.items!.map((i) => `- ${i}`), '');
          break;
        case 'svg': {
          const file = `${b.name}.svg`;
          files.set(file, b.svg!);
          out.push(`![${b.name}](${dir}/${file})`, '');
          break;
        }
        case 'table':
          out.push(`| ${b.header!.map(mdCell).join(' | ')} |`);
          out.push(`|${b.header!.map(() => ' --- ').join('|')}|`);
          for (const r of b.rows!) out.push(`| ${r.map(mdCell).join(' | ')} |`);
          out.push('');
          break;
      }
    }
  files.set('data.json', reportJson(report));
  return { markdown: out.join('\n'), files };
}
