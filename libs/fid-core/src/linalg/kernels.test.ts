import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matrix, type Matrix } from '../matrix.js';
import { naiveNT, randomMatrix } from '../testing.js';
import {
  gemmNN,
  gemmNT,
  gemmNTUpperA,
  gemmNTUpperB,
  gemmTN,
  syrkNT,
  syrkTN,
  transpose,
} from './gemm.js';
import { singularValues } from './singularValues.js';
import { gemmThreads, reserveWasm, symvSession } from './threads.js';
import { tridiagonalEigenvalues } from './tridiagonalEigenvalues.js';
import { tridiagonalize, tridiagonalizeBlocked } from './tridiagonalize.js';

/** Max |x - y| / scale over sorted copies. */
function sortedDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const a = Array.from(x).sort((p, q) => p - q);
  const b = Array.from(y).sort((p, q) => p - q);
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** The textbook three-pass Householder bidiagonalisation (the pre-fusion implementation). */
function referenceBidiagonal(M: Matrix): { d: Float64Array; e: Float64Array } {
  const m = M.rows;
  const n = M.cols;
  const a = Float64Array.from(M.data);
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(0, n - 1));
  const v = new Float64Array(Math.max(m, n));
  const w = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let norm2 = 0;
    for (let i = k; i < m; i++) norm2 += a[i * n + k] ** 2;
    const x0 = a[k * n + k];
    if (norm2 === x0 * x0) d[k] = x0;
    else {
      const alpha = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
      const beta = 1 / (norm2 - alpha * x0);
      v[k] = x0 - alpha;
      for (let i = k + 1; i < m; i++) v[i] = a[i * n + k];
      w.fill(0, k + 1, n);
      for (let i = k; i < m; i++) for (let j = k + 1; j < n; j++) w[j] += v[i] * a[i * n + j];
      for (let i = k; i < m; i++)
        for (let j = k + 1; j < n; j++) a[i * n + j] -= beta * v[i] * w[j];
      d[k] = alpha;
    }
    if (k >= n - 1) continue;
    const r0 = k * n;
    norm2 = 0;
    for (let j = k + 1; j < n; j++) norm2 += a[r0 + j] ** 2;
    const y0 = a[r0 + k + 1];
    if (norm2 === y0 * y0) {
      e[k] = y0;
      continue;
    }
    const alpha = y0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    const beta = 1 / (norm2 - alpha * y0);
    v[k + 1] = y0 - alpha;
    for (let j = k + 2; j < n; j++) v[j] = a[r0 + j];
    for (let i = k + 1; i < m; i++) {
      let s = 0;
      for (let j = k + 1; j < n; j++) s += a[i * n + j] * v[j];
      for (let j = k + 1; j < n; j++) a[i * n + j] -= beta * s * v[j];
    }
    e[k] = alpha;
  }
  return { d, e };
}

function referenceSingularValues(M: Matrix): Float64Array {
  const { d, e } = referenceBidiagonal(M);
  const n = d.length;
  const off = new Float64Array(2 * n - 1);
  for (let k = 0; k < n; k++) {
    off[2 * k] = d[k];
    if (k < n - 1) off[2 * k + 1] = e[k];
  }
  const lambda = tridiagonalEigenvalues(new Float64Array(2 * n), off).sort();
  return lambda.slice(n).map(Math.abs);
}

test('fused bidiagonalisation matches the three-pass reference on odd shapes', () => {
  for (const [m, n, seed] of [
    [1, 1, 1],
    [2, 1, 2],
    [5, 5, 3],
    [17, 9, 4],
    [33, 32, 5],
    [64, 63, 6],
    [101, 37, 7],
  ]) {
    const M = randomMatrix(m, n, seed);
    const got = singularValues(M);
    const want = referenceSingularValues(M);
    assert.ok(sortedDiff(got, want) <= 1e-12 * maxAbs(want), `${m}x${n}`);
  }
});

test('fused bidiagonalisation: rank-deficient and structured inputs (skipped reflections)', () => {
  // Low rank (product of thin factors), a zero column, an already-bidiagonal matrix, all zeros.
  const L = randomMatrix(40, 3, 8);
  const R = randomMatrix(3, 25, 9);
  const low = new Float64Array(40 * 25);
  for (let i = 0; i < 40; i++)
    for (let j = 0; j < 25; j++)
      for (let p = 0; p < 3; p++) low[i * 25 + j] += L.data[i * 3 + p] * R.data[p * 25 + j];
  const zeroCol = randomMatrix(20, 11, 10);
  for (let i = 0; i < 20; i++) zeroCol.data[i * 11 + 4] = 0;
  const bidiag = new Float64Array(12 * 12);
  for (let i = 0; i < 12; i++) {
    bidiag[i * 12 + i] = i + 1;
    if (i < 11) bidiag[i * 12 + i + 1] = 0.5;
  }
  const cases: Matrix[] = [
    { rows: 40, cols: 25, data: low },
    zeroCol,
    { rows: 12, cols: 12, data: bidiag },
    { rows: 6, cols: 4, data: new Float64Array(24) },
  ];
  for (const M of cases) {
    const got = singularValues(M);
    const want = referenceSingularValues(M);
    assert.ok(
      sortedDiff(got, want) <= 1e-12 * Math.max(maxAbs(want), 1e-300),
      `${M.rows}x${M.cols}`,
    );
  }
  // Exactly three nonzero singular values for the rank-3 product.
  const sv = Array.from(singularValues(cases[0])).sort((p, q) => q - p);
  assert.ok(sv[3] < 1e-13 * sv[0], `rank 3: ${sv.slice(0, 5)}`);
});

test('tridiagonal QL: extreme scales (hypot fallback) give scaled eigenvalues', () => {
  const n = 20;
  const base = tridiagonalEigenvalues(
    new Float64Array(n).fill(2),
    new Float64Array(n - 1).fill(-1),
  );
  for (const s of [1e-200, 1e-160, 1e160, 1e200]) {
    const ev = tridiagonalEigenvalues(
      new Float64Array(n).fill(2 * s),
      new Float64Array(n - 1).fill(-s),
    );
    const want = Array.from(base, (x) => x * s);
    assert.ok(sortedDiff(ev, want) <= 1e-13 * 4 * s, `scale ${s}`);
  }
});

/** Runs f with the given thread count and threshold, restoring the settings afterwards. */
function withThreads<T>(
  threads: number,
  minMultiplyAdds: number,
  f: () => T,
  kernel: 'wasm' | 'js' = 'wasm',
): T {
  const saved = { ...gemmThreads };
  gemmThreads.threads = threads;
  gemmThreads.minMultiplyAdds = minMultiplyAdds;
  gemmThreads.minMultiplyAddsToStart = minMultiplyAdds;
  gemmThreads.kernel = kernel;
  try {
    return f();
  } finally {
    Object.assign(gemmThreads, saved);
  }
}

test('k-blocked tiled gemm matches a naive product across tile and k-block edges', () => {
  // k > 256 crosses k blocks; m, n > 64 cross tiles; odd sizes hit the 4 x 4 edges.
  for (const [m, k, n] of [
    [67, 300, 130],
    [3, 513, 5],
    [129, 257, 65],
  ]) {
    const A = randomMatrix(m, k, m + k);
    const B = randomMatrix(n, k, n + 2 * k);
    const want = naiveNT(A, B);
    const tol = 1e-13 * Math.sqrt(k);
    for (const kernel of ['js', 'wasm'] as const) {
      const got = withThreads(1, Infinity, () => gemmNT(A, B).data, kernel);
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= tol, `${kernel} ${m}x${k}x${n} ${i}`);
      }
    }
  }
});

test('wasm SIMD kernel agrees with the JS kernel to 1e-12 (padding, triangles, syrk)', () => {
  for (const [m, k, n] of [
    [1, 1, 1],
    [5, 3, 7],
    [66, 258, 131],
    [130, 515, 3],
  ]) {
    const A = randomMatrix(m, k, 7 * m + k);
    const B = randomMatrix(n, k, 11 * n + k);
    // A upper trapezoidal (A[i, p] = 0 for p < i) for the triangle-skipping product.
    const U = matrix(
      m,
      k,
      A.data.map((v, q) => (q % k < Math.floor(q / k) ? 0 : v)),
    );
    const run = (): Float64Array[] => [
      gemmNT(A, B).data,
      gemmNTUpperA(U, B).data,
      syrkNT(A).data,
      syrkTN(A).data,
      gemmNTUpperB(B, U).data,
    ];
    const js = withThreads(1, Infinity, run, 'js');
    const wasm = withThreads(1, Infinity, run, 'wasm');
    const wasm2 = withThreads(2, 0, run, 'wasm');
    const exact = naiveNT(U, B);
    for (let q = 0; q < js.length; q++) {
      assert.deepEqual(wasm2[q], wasm[q], `threads ${m}x${k}x${n} product ${q}`);
      let scale = 0;
      for (const v of js[q]) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < js[q].length; i++) {
        assert.ok(Math.abs(wasm[q][i] - js[q][i]) <= 1e-12 * scale, `${m}x${k}x${n} ${q} ${i}`);
      }
    }
    const exactT = naiveNT(B, U);
    for (const kernel of [js, wasm]) {
      for (let i = 0; i < exact.length; i++) assert.ok(Math.abs(kernel[1][i] - exact[i]) <= 1e-12);
      for (let i = 0; i < exactT.length; i++)
        assert.ok(Math.abs(kernel[4][i] - exactT[i]) <= 1e-12);
    }
  }
});

test('threaded products are bitwise equal to single-threaded ones', () => {
  for (const [m, k, n] of [
    [1, 1, 1],
    [67, 300, 130],
    [130, 33, 67],
    [200, 520, 9],
  ]) {
    const A = randomMatrix(m, k, 3 * m + k);
    const B = randomMatrix(n, k, 5 * n + k);
    const Bt = transpose(B);
    const At = transpose(A);
    const run = (): Float64Array[] => [
      gemmNT(A, B).data,
      gemmNN(A, Bt).data,
      gemmTN(At, Bt).data,
      gemmTN(Bt, Bt).data,
      syrkTN(A).data,
      syrkTN(At).data,
    ];
    for (const kernel of ['js', 'wasm'] as const) {
      const single = withThreads(1, 0, run, kernel);
      const multi = withThreads(2, 0, run, kernel);
      for (let q = 0; q < single.length; q++) {
        assert.deepEqual(multi[q], single[q], `${kernel} ${m}x${k}x${n} product ${q}`);
      }
    }
  }
  // syrkTN stays exactly symmetric and matches A^T A.
  const X = randomMatrix(150, 70, 77);
  const S = withThreads(2, 0, () => syrkTN(X));
  const Xt = transpose(X);
  const want = naiveNT(Xt, Xt);
  for (let i = 0; i < 70; i++)
    for (let j = 0; j < 70; j++) {
      assert.equal(S.data[i * 70 + j], S.data[j * 70 + i]);
      assert.ok(Math.abs(S.data[i * 70 + j] - want[i * 70 + j]) <= 1e-12);
    }
});

/** The textbook unblocked two-pass tridiagonalisation on full storage (the pre-fusion code). */
function referenceTridiagonal(A: Matrix): { diag: Float64Array; off: Float64Array } {
  const n = A.rows;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = A.data[i * n + j];
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    let alpha2 = 0;
    for (let j = k + 1; j < n; j++) alpha2 += a[k * n + j] ** 2;
    const x0 = a[k * n + k + 1];
    diag[k] = a[k * n + k];
    if (alpha2 === x0 * x0) {
      off[k] = x0;
      continue;
    }
    const alpha = x0 >= 0 ? -Math.sqrt(alpha2) : Math.sqrt(alpha2);
    off[k] = alpha;
    const beta = 1 / (alpha2 - alpha * x0);
    v[k + 1] = x0 - alpha;
    for (let j = k + 2; j < n; j++) v[j] = a[k * n + j];
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      let s = 0;
      for (let j = k + 1; j < n; j++) s += a[i * n + j] * v[j];
      p[i] = beta * s;
      pv += p[i] * v[i];
    }
    for (let i = k + 1; i < n; i++) p[i] -= 0.5 * beta * pv * v[i];
    for (let i = k + 1; i < n; i++)
      for (let j = k + 1; j < n; j++) a[i * n + j] -= v[i] * p[j] + p[i] * v[j];
  }
  if (n >= 2) {
    diag[n - 2] = a[(n - 2) * n + n - 2];
    off[n - 2] = a[(n - 2) * n + n - 1];
  }
  if (n >= 1) diag[n - 1] = a[n * n - 1];
  return { diag, off };
}

test('fused lower-storage tridiagonalisation matches the two-pass reference', () => {
  const blockDiag = new Float64Array(9 * 9); // two blocks: some columns need no reflection
  for (let i = 0; i < 9; i++)
    for (let j = 0; j < 9; j++) if (i < 4 === j < 4) blockDiag[i * 9 + j] = 1 / (1 + i + j);
  const cases: Matrix[] = [
    { rows: 0, cols: 0, data: new Float64Array(0) },
    { rows: 1, cols: 1, data: Float64Array.of(3) },
    { rows: 2, cols: 2, data: Float64Array.of(1, 2, 2, 5) },
    { rows: 9, cols: 9, data: blockDiag },
    { rows: 6, cols: 6, data: new Float64Array(36) },
    syrkTN(randomMatrix(40, 3, 31)),
    syrkTN(randomMatrix(5, 33, 32)), // rank 5 in 33 dimensions
    syrkTN(randomMatrix(80, 67, 33)),
    randomMatrix(45, 45, 34), // not symmetric: only the upper triangle may be read
  ];
  for (const A of cases) {
    const got = tridiagonalize(A);
    const ref = referenceTridiagonal(A);
    const e1 = tridiagonalEigenvalues(got.diag, got.off);
    const e2 = tridiagonalEigenvalues(ref.diag, ref.off);
    const scale = Math.max(maxAbs(e2), 1e-300);
    assert.ok(sortedDiff(e1, e2) <= 1e-13 * scale, `n = ${A.rows}`);
  }
});

test('blocked (dlatrd) tridiagonalisation matches the two-pass reference, JS and wasm symv', () => {
  const cases: [Matrix, number][] = [
    [{ rows: 1, cols: 1, data: Float64Array.of(3) }, 4],
    [{ rows: 2, cols: 2, data: Float64Array.of(1, 2, 2, 5) }, 4],
    [{ rows: 6, cols: 6, data: new Float64Array(36) }, 4], // no reflection at all
    [syrkTN(randomMatrix(40, 3, 31)), 3], // rank 3: panels with skipped reflections
    [syrkTN(randomMatrix(80, 67, 33)), 8], // panel edges: 67 = 8 * 8 + 3
    [randomMatrix(45, 45, 34), 16], // not symmetric: only the upper triangle may be read
    [syrkTN(randomMatrix(310, 300, 35)), 64], // the default dispatch size
  ];
  for (const [A, nb] of cases) {
    const ref = referenceTridiagonal(A);
    const e2 = tridiagonalEigenvalues(ref.diag, ref.off);
    const scale = Math.max(maxAbs(e2), 1e-300);
    for (const kernel of ['js', 'wasm'] as const) {
      const got = withThreads(2, 0, () => tridiagonalizeBlocked(A, nb), kernel);
      const e1 = tridiagonalEigenvalues(got.diag, got.off);
      assert.ok(sortedDiff(e1, e2) <= 1e-13 * scale, `${kernel} n = ${A.rows} nb = ${nb}`);
    }
  }
});

// Keep last in this file: the failure drops the worker pool for the rest of the process.
test('a symv worker that fails is reported, not waited for forever', () => {
  withThreads(
    2,
    0,
    () => {
      const arena = reserveWasm(64);
      assert.ok(arena, 'wasm kernel available');
      try {
        const session = symvSession();
        assert.ok(session, 'a worker holds the session');
        // Rows [0, 7) are inside the memory, the worker's rows [7, 10) are not: it traps, reports,
        // and the caller, redoing them itself, gets the same RangeError instead of a hang.
        const bytes = arena.view().length * 8;
        const ns = Math.floor(bytes / 8 / 6.5);
        assert.throws(() => session.run(0, ns, 0, 10, 0, 8, 16), /out of bounds/);
        session.close();
      } finally {
        arena.release();
      }
      // Products still work (on this thread now).
      const A = randomMatrix(70, 40, 1);
      const want = naiveNT(A, A);
      const got = gemmNT(A, A).data;
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-12);
    },
    'wasm',
  );
});
