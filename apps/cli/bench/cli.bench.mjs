// CLI start-up benchmark: `fidlab --help` and `fidlab fid a.npy b.npy` (n=300, d=2048, float32)
// as whole processes of the built binary, against a bare `node -e 0` measured in the same run
// (the three interleaved, so load on the machine hits them alike). Writes bench/results/cli.md.
//
//   npm run bench:cli                 (or: npx nx run cli:bench; builds first)
//   node apps/cli/bench/cli.bench.mjs --runs 30 --out /tmp/cli.md
//   ... --compare /other/checkout/apps/cli/bin/fidlab.js [--compare-label TEXT]
//       (also times another build, e.g. the CLI before this change)
//
// Goals (issue 13): --help within 3x of `node -e 0`; fid at n=300, d=2048 under 0.35 s.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { encodeNpy, createRng } from '@fidlab/base';

const root = resolve(import.meta.dirname, '../../..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Number(arg('--runs', '15'));
const OUT = resolve(root, arg('--out', 'bench/results/cli.md'));
const bin = join(root, 'apps/cli/bin/fidlab.js');
if (!existsSync(join(root, 'apps/cli/dist/main.js'))) {
  console.error('apps/cli is not built: run `npm run build` (or `npx nx run cli:bench`)');
  process.exit(1);
}

// Features as the README's example: two sets of 300 rows, 2048 columns (Inception pool3).
const dir = mkdtempSync(join(tmpdir(), 'fidlab-cli-bench-'));
const rng = createRng(7);
const features = (shift) => {
  const data = new Float32Array(300 * 2048);
  for (let i = 0; i < data.length; i++) data[i] = rng.next() + shift;
  return encodeNpy({ shape: [300, 2048], data }, 'float32');
};
const a = join(dir, 'a.npy');
const b = join(dir, 'b.npy');
writeFileSync(a, features(0));
writeFileSync(b, features(0.1));

const compare = arg('--compare', undefined);
const cases = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'fidlab --help', args: [bin, '--help'] },
  { name: 'fidlab fid a.npy b.npy', args: [bin, 'fid', a, b] },
  // The floor for the fid line: the same reads and FID in a bare script, no CLI around them.
  {
    name: 'script: parseNpy x2 + frechetDistance',
    args: [
      '--input-type=module',
      '-e',
      `import { readFileSync } from 'node:fs';
import { parseNpy } from '@fidlab/base';
import { frechetDistance } from '@fidlab/fid-core';
const m = (p) => { const a = parseNpy(new Uint8Array(readFileSync(p)), p);
  return { rows: a.shape[0], cols: a.shape[1], data: Float64Array.from(a.data) }; };
console.log(frechetDistance(m(${JSON.stringify(a)}), m(${JSON.stringify(b)})).fid);`,
    ],
  },
  ...(compare
    ? [
        { name: 'compared build: fidlab --help', args: [compare, '--help'] },
        { name: 'compared build: fidlab fid a.npy b.npy', args: [compare, 'fid', a, b] },
      ]
    : []),
];
const times = new Map(cases.map((c) => [c.name, []]));
let fidLine = '';
for (let r = 0; r < RUNS + 1; r++) {
  for (const c of cases) {
    const t = process.hrtime.bigint();
    const p = spawnSync(process.execPath, c.args, { encoding: 'utf8', cwd: root });
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (p.status !== 0) {
      console.error(`${c.name} exited ${p.status}: ${p.stderr}`);
      process.exit(1);
    }
    if (c.name === 'fidlab fid a.npy b.npy') fidLine = p.stdout.trim().replace(/\s+/g, ' ');
    if (r > 0) times.get(c.name).push(s); // run 0 warms the file cache
  }
}
rmSync(dir, { recursive: true, force: true });

const stat = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2 };
};
const base = stat(times.get('node -e 0'));
const rows = cases.map((c) => {
  const st = stat(times.get(c.name));
  return {
    name: c.name,
    ...st,
    ratioMin: st.min / base.min,
    ratioMedian: st.median / base.median,
  };
});
const help = rows[1];
const fid = rows[2];
const f3 = (x) => x.toFixed(3);
const f2 = (x) => x.toFixed(2);
const lines = [
  '# CLI start-up',
  '',
  `\`node ${relative(root, import.meta.filename)} --runs ${RUNS}${compare ? ' --compare ' + relative(root, compare) : ''}\` (${new Date().toISOString().slice(0, 16)}Z): each command as a whole process of the built binary (\`apps/cli/bin/fidlab.js\`), ${RUNS} runs each after one warm-up, all cases interleaved; node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x ${availableParallelism()}, load average ${loadavg().map(f2).join(' ')} at the end.`,
  '',
  '| command | min (s) | median (s) | min / node -e 0 | median / node -e 0 |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| \`${r.name}\` | ${f3(r.min)} | ${f3(r.median)} | ${f2(r.ratioMin)} | ${f2(r.ratioMedian)} |`,
  ),
  '',
  `- Goal \`fidlab --help\` within 3x of \`node -e 0\`: ${f2(help.ratioMedian)}x (median), ${f2(help.ratioMin)}x (min): ${help.ratioMedian <= 3 ? 'met' : 'NOT met'}.`,
  `- Goal \`fidlab fid a.npy b.npy\` (n=300, d=2048) under 0.35 s: ${f3(fid.median)} s median, ${f3(fid.min)} s min: ${fid.median < 0.35 ? 'met' : fid.min < 0.35 ? 'met by the min, not the median' : 'NOT met'} (of which \`node -e 0\` is ${f3(base.median)} s here).`,
  `- fid printed: \`${fidLine}\`; the bare script (same reads, same FID, no CLI) is the floor: the CLI adds ${f3(fid.median - rows[3].median)} s (median) to it.`,
  ...(compare
    ? [
        `- compared build: \`${relative(root, compare)}\`${arg('--compare-label', '') ? ` (${arg('--compare-label', '')})` : ''}, the same commands.`,
      ]
    : []),
  '',
];
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, lines.join('\n'));
console.log(lines.join('\n'));
