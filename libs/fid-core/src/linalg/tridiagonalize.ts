import type { Matrix } from '../matrix.js';
import {
  addLowerProductInPlace,
  helperCount,
  ntProduct,
  reserveWasm,
  symvSession,
} from './threads.js';

/**
 * Householder reduction of a symmetric matrix to tridiagonal form, Q^T A Q = T (Golub & Van Loan
 * sec. 8.3.1), keeping only T: `diag` [n] and `off` [n - 1]. Orthogonal similarity preserves the
 * eigenvalues, and T's are found in O(n^2) by `tridiagonalEigenvalues`. Only A's upper triangle
 * is read.
 *
 * Step k (H = I - beta v v^T, v = x - alpha e1, x = A[k+1.., k]):
 *   p = beta A22 v,  w = p - (beta / 2)(p . v) v,  A22 <- A22 - v w^T - w v^T.
 * The reduction is memory bound (O(n^2) data per O(n^2) flops), so the data movement is arranged
 * to touch the trailing matrix once per step instead of twice, and only its lower half:
 *  - Storage is the lower triangle, row-major: row i's entries j <= i are contiguous. The
 *    symmetric product A22 v is accumulated row by row from the lower half alone
 *    (q_i += a_ij v_j and q_j += a_ij v_i for j < i).
 *  - Deviation from the textbook two-pass step: the rank-2 update of step k and the product
 *    A22 x of step k+1 share one sweep. Row i is updated, then immediately contributes to
 *    q = A22' x, with x = the (updated) column k+1, which row i's own update has just produced.
 *    v = x - alpha e1 is not known during the sweep (alpha needs all of x), so step k+1 uses
 *    A22' v = q - alpha A22' e1, A22' e1 being the first column of the new trailing block. This
 *    only regroups sums (errors stay ~eps ||A||).
 * This fused form is used below order BLOCKED_FROM; larger matrices take `tridiagonalizeBlocked`
 * (LAPACK dsytrd's panel + rank-2k update), which moves half the flops into the threaded GEMM
 * kernel and leaves a read-only A22 v per column (wasm SIMD when available).
 */
export function tridiagonalize(A: Matrix): { diag: Float64Array; off: Float64Array } {
  return A.rows >= BLOCKED_FROM ? tridiagonalizeBlocked(A) : tridiagonalizeFused(A);
}

/** Trailing orders from which A22 v is split between two threads (a sync per column). */
const SYMV_THREADED_FROM = 256;

/** Below this order the unblocked fused sweep wins (the blocked update's overhead dominates). */
const BLOCKED_FROM = 256;

/** The unblocked reduction described above (exported for tests). */
export function tridiagonalizeFused(A: Matrix): { diag: Float64Array; off: Float64Array } {
  const n = A.rows;
  const a = lowerCopy(A);
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  if (n === 0) return { diag, off };
  const v = new Float64Array(n);
  const w = new Float64Array(n);
  const x = new Float64Array(n); // column k+1 below the diagonal, after step k's update
  const q = new Float64Array(n); // A22' x for the next step

  // Step -1: no update, only q = A[1.., 1..] x with x = A[1.., 0].
  sweep(a, n, -1, v, w, false, x, q);

  for (let k = 0; k < n - 2; k++) {
    const k1 = k + 1;
    // x = A[k+1.., k] (already in `x`, from the previous sweep), q = A22 x.
    let alpha2 = 0;
    for (let i = k1; i < n; i++) alpha2 += x[i] * x[i];
    const x0 = x[k1];
    diag[k] = a[k * n + k];
    let update = false;
    if (alpha2 === x0 * x0) {
      // Already tridiagonal in this column: nothing to annihilate.
      off[k] = x0;
    } else {
      const alpha = x0 >= 0 ? -Math.sqrt(alpha2) : Math.sqrt(alpha2);
      off[k] = alpha;
      // beta = 2 / (v.v) = 1 / (alpha^2 - alpha x0); p = beta A22 (x - alpha e1).
      const beta = 1 / (alpha2 - alpha * x0);
      for (let i = k1; i < n; i++) v[i] = x[i];
      v[k1] = x0 - alpha;
      // A22 e1 = column k+1 of the trailing block: a[i, k+1] for i >= k+1 (lower storage).
      let pv = 0;
      for (let i = k1; i < n; i++) {
        const p = beta * (q[i] - alpha * a[i * n + k1]);
        w[i] = p;
        pv += p * v[i];
      }
      const half = 0.5 * beta * pv;
      for (let i = k1; i < n; i++) w[i] -= half * v[i];
      update = true;
    }
    sweep(a, n, k, v, w, update, x, q);
  }
  if (n >= 2) {
    diag[n - 2] = a[(n - 2) * n + n - 2];
    off[n - 2] = a[(n - 1) * n + n - 2];
  }
  diag[n - 1] = a[n * n - 1];
  return { diag, off };
}

/**
 * One pass over the lower half of the trailing block rows/cols k+1..n of `a`: when `update`,
 * A22 -= v w^T + w v^T; then x = A[k+2.., k+1] and q = A[k+2.., k+2..] x for the next step.
 */
function sweep(
  a: Float64Array,
  n: number,
  k: number,
  v: Float64Array,
  w: Float64Array,
  update: boolean,
  x: Float64Array,
  q: Float64Array,
): void {
  const k1 = k + 1;
  const k2 = k + 2;
  q.fill(0, k2, n);
  if (update) {
    // Row k+1 of the block is just its diagonal entry.
    a[k1 * n + k1] -= 2 * v[k1] * w[k1];
  }
  for (let i = k2; i < n; i++) {
    const r = i * n;
    const vi = v[i];
    const wi = w[i];
    if (update) {
      a[r + k1] -= vi * w[k1] + wi * v[k1];
    }
    const xi = a[r + k1];
    x[i] = xi;
    let s0 = 0;
    let s1 = 0;
    let j = k2;
    if (update) {
      for (; j + 1 < i; j += 2) {
        const p = a[r + j] - (vi * w[j] + wi * v[j]);
        const t = a[r + j + 1] - (vi * w[j + 1] + wi * v[j + 1]);
        a[r + j] = p;
        a[r + j + 1] = t;
        s0 += p * x[j];
        s1 += t * x[j + 1];
        q[j] += p * xi;
        q[j + 1] += t * xi;
      }
      if (j < i) {
        const p = a[r + j] - (vi * w[j] + wi * v[j]);
        a[r + j] = p;
        s0 += p * x[j];
        q[j] += p * xi;
      }
      a[r + i] -= 2 * vi * wi;
    } else {
      for (; j + 1 < i; j += 2) {
        const p = a[r + j];
        const t = a[r + j + 1];
        s0 += p * x[j];
        s1 += t * x[j + 1];
        q[j] += p * xi;
        q[j + 1] += t * xi;
      }
      if (j < i) {
        const p = a[r + j];
        s0 += p * x[j];
        q[j] += p * xi;
      }
    }
    q[i] += s0 + s1 + a[r + i] * xi;
  }
}

/**
 * Lower storage from the upper triangle (tiny asymmetries in the input cannot leak in):
 * a[i, j] = A[j, i] for j <= i, copied in 32 x 32 tiles.
 */
function lowerCopy(
  A: Matrix,
  a: Float64Array<ArrayBufferLike> = new Float64Array(A.rows * A.rows),
): Float64Array<ArrayBufferLike> {
  const n = A.rows;
  const src = A.data;
  const B = 32;
  for (let j0 = 0; j0 < n; j0 += B) {
    for (let i0 = j0; i0 < n; i0 += B) {
      const j1 = Math.min(j0 + B, n);
      const i1 = Math.min(i0 + B, n);
      for (let j = j0; j < j1; j++) {
        const rj = j * n;
        for (let i = Math.max(i0, j); i < i1; i++) a[i * n + j] = src[rj + i];
      }
    }
  }
  return a;
}

/**
 * The same reduction blocked as LAPACK dsytrd/dlatrd (lower): reflections are generated for a
 * panel of `nb` columns while the trailing matrix stays as it was at the panel's start; each
 * column of the panel is first brought up to date with the panel's earlier reflections, and the
 * symmetric product A22 v is corrected the same way (V (W^T v) + W (V^T v)). After the panel the
 * trailing matrix takes all of them at once, A22 -= V W^T + W V^T: a rank-2nb product on the
 * threaded GEMM kernel, half of the reduction's flops. The other half, one A22 v per column, is
 * read-only (the fused form reads and writes A22 per column).
 */
export function tridiagonalizeBlocked(
  A: Matrix,
  nb = 64,
): { diag: Float64Array; off: Float64Array } {
  const n = A.rows;
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  if (n === 0) return { diag, off };
  // With the wasm kernel, a, v and q live in wasm memory and A22 v runs as f64x2 (wasm symv).
  const arena = reserveWasm(((n + 4) * n + 3 * n) * 8);
  try {
    return blocked(A, nb, diag, off, arena);
  } finally {
    arena?.release();
  }
}

function blocked(
  A: Matrix,
  nb: number,
  diag: Float64Array,
  off: Float64Array,
  arena: ReturnType<typeof reserveWasm>,
): { diag: Float64Array; off: Float64Array } {
  const n = A.rows;
  const vOff = (n + 4) * n; // a, then 4 scratch rows for the in-place update's padding
  const qOff = vOff + n;
  const q2Off = qOff + n; // the symv worker's partial q
  let a: Float64Array<ArrayBufferLike> = new Float64Array(0);
  let v = a;
  let q = a;
  const views = () => {
    const mem = arena ? arena.view() : new Float64Array(qOff + n);
    a = mem.subarray(0, n * n);
    v = mem.subarray(vOff, vOff + n);
    q = mem.subarray(qOff, qOff + n);
  };
  views();
  lowerCopy(A, a);
  const V = new Float64Array(n * nb); // [n, nb] row-major: reflection vectors of the panel
  const W = new Float64Array(n * nb); // [n, nb]: their update partners (A22 -= V W^T + W V^T)
  const tv = new Float64Array(nb);
  const tw = new Float64Array(nb);
  for (let i0 = 0; i0 < n - 2; i0 += nb) {
    const i1 = Math.min(i0 + nb, n - 2);
    V.fill(0);
    W.fill(0);
    // A symv session holds a worker for this panel's columns; closed before the GEMM update.
    const session = arena && n - i0 >= SYMV_THREADED_FROM ? symvSession() : null;
    for (let c = i0; c < i1; c++) {
      const ib = c - i0;
      const c1 = c + 1;
      // One strided pass down column c (rows c..n): apply this panel's earlier reflections,
      // copy the part below the diagonal to v and sum its squares.
      const vc = c * nb;
      let alpha2 = 0;
      for (let r = c; r < n; r++) {
        const vr = r * nb;
        let s = 0;
        for (let t = 0; t < ib; t++) s += V[vr + t] * W[vc + t] + W[vr + t] * V[vc + t];
        const x = a[r * n + c] - s;
        a[r * n + c] = x;
        if (r > c) {
          v[r] = x;
          alpha2 += x * x;
        }
      }
      diag[c] = a[c * n + c];
      const x0 = a[c1 * n + c];
      if (alpha2 === x0 * x0) {
        off[c] = x0; // nothing to annihilate: H = I, V and W columns stay 0
        continue;
      }
      const alpha = x0 >= 0 ? -Math.sqrt(alpha2) : Math.sqrt(alpha2);
      off[c] = alpha;
      const beta = 1 / (alpha2 - alpha * x0);
      v[c1] = x0 - alpha;
      if (arena) {
        q.fill(0, c1, n);
        if (session && n - c1 >= SYMV_THREADED_FROM) {
          session.run(0, n, c1, n, vOff * 8, qOff * 8, q2Off * 8);
        } else {
          arena.symv(0, n, c1, c1, n, vOff * 8, qOff * 8);
        }
      } else {
        symvLower(a, n, c1, v, q);
      }
      if (ib > 0) {
        // q -= V (W^T v) + W (V^T v) over rows c+1..n: the panel's pending updates.
        tv.fill(0, 0, ib);
        tw.fill(0, 0, ib);
        for (let r = c1; r < n; r++) {
          const vr = r * nb;
          const x = v[r];
          for (let t = 0; t < ib; t++) {
            tw[t] += W[vr + t] * x;
            tv[t] += V[vr + t] * x;
          }
        }
        for (let r = c1; r < n; r++) {
          const vr = r * nb;
          let s = 0;
          for (let t = 0; t < ib; t++) s += V[vr + t] * tw[t] + W[vr + t] * tv[t];
          q[r] -= s;
        }
      }
      // p = beta q; w = p - (beta / 2)(p . v) v
      let pv = 0;
      for (let r = c1; r < n; r++) pv += beta * q[r] * v[r];
      const half = 0.5 * beta * pv;
      for (let r = c1; r < n; r++) {
        V[r * nb + ib] = v[r];
        W[r * nb + ib] = beta * q[r] - half * v[r];
      }
    }
    // Trailing update, lower half: a[i1.., i1..] -= [V W] [W V]^T.
    const m = n - i1;
    const kb = i1 - i0;
    const k2 = 2 * kb;
    const VW = new Float64Array(m * k2);
    const WV = new Float64Array(m * k2); // negated in the wasm case (the kernel adds)
    const sign = arena ? -1 : 1;
    for (let r = 0; r < m; r++) {
      const src = (i1 + r) * nb;
      const o = r * k2;
      for (let t = 0; t < kb; t++) {
        VW[o + t] = V[src + t];
        VW[o + kb + t] = W[src + t];
        WV[o + t] = sign * W[src + t];
        WV[o + kb + t] = sign * V[src + t];
      }
    }
    session?.close();
    const helpers = helperCount((m * m * k2) / 2);
    if (arena) {
      // Straight into a (in wasm memory): no m x m temporary, no copy back.
      addLowerProductInPlace((i1 * n + i1) * 8, n, VW, WV, m, k2, helpers);
      views(); // the update may have grown (moved) the wasm memory
    } else {
      const C = ntProduct(VW, m, WV, m, k2, 'lower', helpers);
      for (let r = 0; r < m; r++) {
        const ar = (i1 + r) * n + i1;
        const cr = r * m;
        for (let s = 0; s <= r; s++) a[ar + s] -= C[cr + s];
      }
    }
  }
  if (n >= 2) {
    diag[n - 2] = a[(n - 2) * n + n - 2];
    off[n - 2] = a[(n - 1) * n + n - 2];
  }
  diag[n - 1] = a[n * n - 1];
  return { diag, off };
}

/** q[s..n) = A[s.., s..] v[s..n) from lower row-major storage (each entry used twice). */
function symvLower(a: Float64Array, n: number, s: number, v: Float64Array, q: Float64Array): void {
  q.fill(0, s, n);
  for (let i = s; i < n; i++) {
    const r = i * n;
    const vi = v[i];
    let s0 = 0;
    let s1 = 0;
    let j = s;
    for (; j + 1 < i; j += 2) {
      const p = a[r + j];
      const t = a[r + j + 1];
      s0 += p * v[j];
      s1 += t * v[j + 1];
      q[j] += p * vi;
      q[j + 1] += t * vi;
    }
    if (j < i) {
      const p = a[r + j];
      s0 += p * v[j];
      q[j] += p * vi;
    }
    q[i] += s0 + s1 + a[r + i] * vi;
  }
}
