// The threaded sgemm and its gathers against plain float64 loops, on one thread and shared
// between threads (adaptive choice off, so the shared path surely runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sgemm } from '../src/sgemm/threads.js';
import { randomArray, seeded } from '../bench/nets.js';

const up = (x: number, to: number) => Math.ceil(x / to) * to;

for (const threads of [1, 3]) {
  const g = new Sgemm(threads, false);
  // [m, k, n]: tails of every block size, k past one reduction block (256), few rows (columns shared).
  const shapes = [
    [1, 1, 1],
    [5, 3, 9],
    [12, 37, 24],
    [64, 300, 40],
    [8, 600, 200],
    [300, 20, 3],
  ];
  for (const [m, k, n] of shapes) {
    for (const add of [false, true]) {
      test(`sgemm ${m}x${k}x${n} add=${add} on ${threads} thread(s) matches float64 loops`, () => {
        const M = up(m, 4);
        const N = up(n, 8);
        const [a, b, c] = [0, M * k + 3, M * k + 3 + k * N + 5]; // unaligned on purpose
        g.reserve(c + M * N);
        const f = g.f32();
        const A = randomArray(M * k, seeded(m));
        const B = randomArray(k * N, seeded(n + 1));
        const C0 = randomArray(M * N, seeded(k + 2));
        f.set(A, a);
        f.set(B, b);
        f.set(C0, c);
        g.gemm({ a, b, c, lda: k, ldb: N, ldc: N, m: M, n: N, k, add }, true);
        let worst = 0;
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let s = add ? C0[i * N + j] : 0;
            let mag = Math.abs(s);
            for (let p = 0; p < k; p++) {
              s += A[i * k + p] * B[p * N + j];
              mag += Math.abs(A[i * k + p] * B[p * N + j]);
            }
            worst = Math.max(worst, Math.abs(f[c + i * N + j] - s) / (mag + 1e-30));
          }
        }
        assert.ok(worst < 1e-6, `relative error ${worst}`);
      });
    }
  }

  test(`gather and gatherSum on ${threads} thread(s) pick and sum the indexed floats`, () => {
    const n = 10000; // more than one claimed run (4096)
    const r = 3;
    const src = 0;
    const idx = 1000;
    const dst = idx + n * r;
    g.reserve(dst + n);
    const f = g.f32();
    const i32 = g.i32();
    const rnd = seeded(9);
    for (let i = 0; i < 1000; i++) f[src + i] = i * 0.5;
    for (let t = 0; t < n * r; t++) i32[idx + t] = 4 * Math.floor(((rnd() + 1) / 2) * 999);
    g.gather(dst, src, idx, n, true);
    for (let t = 0; t < n; t++) assert.equal(f[dst + t], f[src + i32[idx + t] / 4]);
    f.fill(1, dst, dst + n);
    g.gatherSum(dst, src, idx, r, n, true);
    for (let t = 0; t < n; t++) {
      let s = 1;
      for (let u = 0; u < r; u++) s += f[src + i32[idx + t * r + u] / 4];
      assert.equal(f[dst + t], s);
    }
  });
}

for (const threads of [1, 2]) {
  test(`copyRuns and gatherSumRuns on ${threads} thread(s) copy and sum whole runs`, () => {
    const g = new Sgemm(threads, false);
    const [len, r, n] = [12, 3, 3000];
    const src = 0;
    const idx = 4096;
    const dst = idx + n * r;
    g.reserve(dst + n * len);
    const f = g.f32();
    const i32 = g.i32();
    const rnd = seeded(4);
    for (let i = 0; i < 4096; i++) f[src + i] = rnd();
    const start = () => 4 * Math.floor(((rnd() + 1) / 2) * (4096 - len));
    for (let t = 0; t < n * r; t++) i32[idx + t] = start();
    g.copyRuns(dst, src, idx, len, n, true);
    for (let t = 0; t < n; t++) {
      for (let q = 0; q < len; q++)
        assert.equal(f[dst + t * len + q], f[src + i32[idx + t] / 4 + q]);
    }
    f.fill(0.5, dst, dst + n * len);
    g.gatherSumRuns(dst, src, idx, r, len, n, true);
    for (let t = 0; t < n; t++) {
      for (let q = 0; q < len; q++) {
        let s = Math.fround(0.5);
        for (let u = 0; u < r; u++) s = Math.fround(s + f[src + i32[idx + t * r + u] / 4 + q]);
        assert.equal(f[dst + t * len + q], s);
      }
    }
    assert.throws(() => g.gatherSumRuns(dst, src, idx, r, 6, n), /runs of 4k floats/);
    g.dispose();
  });
}

test('a shape the kernel cannot take is refused with its sizes', () => {
  const g = new Sgemm(1);
  assert.throws(
    () => g.gemm({ a: 0, b: 0, c: 0, lda: 1, ldb: 8, ldc: 8, m: 3, n: 8, k: 1 }),
    /m=3 n=8 k=1/,
  );
});

test('a worker that traps (index out of the arena) is reported, not waited on', () => {
  const g = new Sgemm(2, false);
  g.reserve(1 << 16);
  const i32 = g.i32();
  i32.fill(0x7ffffff0, 0, 1 << 15); // every index points past the memory
  assert.throws(() => g.gather(1 << 15, 0, 0, 1 << 15, true));
});
