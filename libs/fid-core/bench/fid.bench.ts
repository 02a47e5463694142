/**
 * fid-core benchmark: FID on random feature sets against a float64 numpy/scipy reference measured
 * in the same run (pytorch-fid's cov + sqrtm, and a numpy low-rank SVD). Writes
 * bench/results/fid-core.md. Each fidlab case runs in its own process so peak RSS is per case.
 *
 *   npx nx run fid-core:bench            (all cases; the sqrtm references take minutes)
 *   npx nx run fid-core:bench -- --quick (n=300, d=2048 only)
 *   npx nx run fid-core:bench -- --only 3000x2048 (chosen cases; result in an ignored .tmp file)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { encodeNpy, parseNpy } from '@fidlab/base';
import { frechetDistance, type Matrix } from '../src/index.js';
import { randomMatrix } from '../src/testing.js';

const root = resolve(import.meta.dirname, '../../..');

// Child mode: time one fidlab case, print JSON.
if (process.argv[2] === '--case') {
  const [x, y] = [process.argv[3], process.argv[4]].map((p) => {
    const a = parseNpy(new Uint8Array(readFileSync(p)), p);
    return { rows: a.shape[0], cols: a.shape[1], data: a.data } as Matrix;
  });
  const path = process.argv[5] as 'lowrank' | 'full';
  // Both paths start from the raw features (statistics included), as numpy's cov + sqrtm does.
  const run = () => frechetDistance(x, y, { method: path }).fid;
  const reps = path === 'lowrank' ? 5 : 1;
  const times: number[] = [];
  let fid = 0;
  if (path === 'lowrank') run(); // warm-up (JIT)
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fid = run();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      fid,
      seconds: times[Math.floor(times.length / 2)],
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    }),
  );
  process.exit(0);
}

function findPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import numpy, scipy'], { stdio: 'ignore' }).status === 0) return py;
  }
  console.error('numpy/scipy not found: installing Debian python3-numpy python3-scipy ...');
  const apt = spawnSync(
    'sh',
    [
      '-c',
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy python3-scipy',
    ],
    { stdio: 'inherit' },
  );
  if (
    apt.status === 0 &&
    spawnSync('/usr/bin/python3', ['-c', 'import numpy, scipy'], { stdio: 'ignore' }).status === 0
  )
    return '/usr/bin/python3';
  return undefined;
}

const quick = process.argv.includes('--quick');
// --only NxD[,NxD...]: just those cases, written to bench/results/fid-core-only.md.tmp (ignored).
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? process.argv[onlyArg + 1].split(',') : undefined;
// oneThread: fidlab with FIDLAB_THREADS=1 and numpy with one BLAS thread, one core each. On a
// shared machine this comparison suffers least from the other jobs (a busy core slows a
// 2-thread BLAS far more than a 1-thread one), so it is the fairer ratio of the two.
const allCases: { n: number; d: number; path: 'lowrank' | 'full'; oneThread?: boolean }[] = [
  { n: 300, d: 2048, path: 'lowrank' },
  { n: 300, d: 4096, path: 'lowrank' },
  { n: 3000, d: 2048, path: 'full' },
  { n: 3000, d: 2048, path: 'full', oneThread: true },
];
const cases = quick
  ? allCases.slice(0, 1)
  : allCases.filter((c) => !only || only.includes(`${c.n}x${c.d}`));
const loadBefore = loadavg()[0];
const python = findPython();
if (!python) console.error('reference skipped: numpy/scipy could not be had');
const dir = mkdtempSync(join(tmpdir(), 'fidlab-bench-'));
const rows: string[] = [];
const summary: string[] = [];
for (const c of cases) {
  const x = randomMatrix(c.n, c.d, 1);
  const y = randomMatrix(c.n, c.d, 2, 1.1, 0.05);
  const px = join(dir, `x_${c.n}_${c.d}.npy`);
  const py = join(dir, `y_${c.n}_${c.d}.npy`);
  writeFileSync(px, encodeNpy({ shape: [c.n, c.d], data: x.data }));
  writeFileSync(py, encodeNpy({ shape: [c.n, c.d], data: y.data }));
  const one = c.oneThread ? '1' : undefined;
  const env = {
    ...process.env,
    ...(one && { FIDLAB_THREADS: one, OPENBLAS_NUM_THREADS: one, OMP_NUM_THREADS: one }),
  };
  const label = c.oneThread ? `${c.path}, 1 thread each` : c.path;
  console.error(`case n=${c.n} d=${c.d} (${label}): fidlab ...`);
  const mine = JSON.parse(
    execFileSync(
      process.execPath,
      [...process.execArgv, import.meta.filename, '--case', px, py, c.path],
      { encoding: 'utf8', env },
    ),
  );
  let ref: Record<string, number> = {};
  if (python) {
    console.error(`case n=${c.n} d=${c.d}: numpy/scipy reference ...`);
    ref = JSON.parse(
      execFileSync(python, [join(root, 'tools/bench/fid_reference.py'), px, py], {
        encoding: 'utf8',
        env,
      }),
    );
  }
  const sqrtmTotal = ref.cov_s !== undefined ? ref.cov_s + ref.sqrtm_s : undefined;
  const speedup = sqrtmTotal ? sqrtmTotal / mine.seconds : undefined;
  const relDiff =
    ref.lowrank_fid !== undefined
      ? Math.abs(mine.fid - ref.lowrank_fid) / Math.abs(ref.lowrank_fid)
      : undefined;
  const f = (v: number | undefined, digits = 3) =>
    v === undefined ? 'n/a' : v.toPrecision(digits);
  rows.push(
    `| ${c.n} | ${c.d} | ${label} | ${f(mine.seconds)} | ${f(ref.lowrank_s)} | ${f(ref.cov_s)} + ${f(ref.sqrtm_s)} | ${f(speedup)}x | ${f(relDiff, 2)} | ${f(mine.fid, 10)} | ${f(ref.sqrtm_fid, 10)} | ${f(mine.peak_rss_mb, 4)} | ${f(ref.peak_rss_mb, 4)} |`,
  );
  summary.push(
    `fid_bench n=${c.n} d=${c.d} method=${c.path}${c.oneThread ? ' threads=1' : ''} fidlab_s=${f(mine.seconds)} sqrtm_s=${f(sqrtmTotal)} speedup_vs_sqrtm=${f(speedup)} rel_diff_vs_lowrank_f64=${f(relDiff, 2)}`,
  );
}

const md = [
  '# fid-core benchmark',
  '',
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on this machine (${process.platform}, node ${process.version}, ${availableParallelism()} cores, 1-min load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end: other jobs share the cores, so timings are noisy); command: \`nice npx nx run fid-core:bench${quick ? ' -- --quick' : only ? ` -- --only ${only.join(',')}` : ''}\`.`,
  'Random Gaussian features; fidlab times are the median of warm runs (lowrank) or one run (full: statistics + distance, from the raw features).',
  'The reference is float64 numpy/scipy in the same run: the pytorch-fid method (np.cov, then scipy.linalg.sqrtm of S1 S2) and a numpy low-rank method (SVD of C1^T C2).',
  'Rows marked "1 thread each" run fidlab with FIDLAB_THREADS=1 and numpy with OPENBLAS_NUM_THREADS=1: when other jobs load the cores, a 2-thread BLAS slows down far more than one thread does, so this is the comparison least distorted by the load.',
  '',
  '| n | d | fidlab path | fidlab s | numpy lowrank s | numpy cov + sqrtm s | speedup vs cov+sqrtm | rel. diff vs numpy lowrank | fidlab FID | sqrtm FID | fidlab peak RSS MB | numpy peak RSS MB |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  '```',
  ...summary,
  '```',
  '',
];
mkdirSync(join(root, 'bench/results'), { recursive: true });
const outName = quick ? 'fid-core-quick.md' : only ? 'fid-core-only.md.tmp' : 'fid-core.md';
writeFileSync(join(root, 'bench/results', outName), md.join('\n'));
console.log(md.join('\n'));
