// Conv2DBackpropFilter for wasm (missing there). The filter gradient of a stride-s convolution
//   dW[i, j, c, o] = sum_{n, y, x} X[n, s*y + i - padTop, s*x + j - padLeft, c] * dY[n, y, x, o]
// is one GEMM over a transposed im2col matrix (the default), or, when that matrix would be too
// big, a convolution of the input with the output gradient: batch and channels swapped
// (X^T: [c, H, W, n]), dY^T: [y, x, n, o] as the filter, dilation s, stride 1, run by XNNPACK.
// Measured on fidlab's unet (batch 1) the GEMM takes 9 ms of a step where the convolution took 14.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';

/**
 * Largest transposed im2col matrix (floats, 32 MB) for the GEMM path. Beyond it the dilated
 * convolution, whose reduction runs over the batch only (poor for XNNPACK at batch 1-4), at
 * least needs no such buffer.
 */
export const filterGradTuning = { gemmMaxCols: 1 << 23 };

export function conv2dBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: Attrs;
}): tf.TensorInfo {
  const { x, dy } = args.inputs as Record<'x' | 'dy', tf.TensorInfo>;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter: only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const s = new WasmScope(args.backend as BackendWasm);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const { batchSize: n, inChannels: c, outChannels: o } = info;
  const m = n * oh * ow;
  const k = kh * kw * c;
  if (m * k <= filterGradTuning.gemmMaxCols) return s.done(gemmPath(s, x, dy, info, m, k, n, c, o));
  // Rows of X the last output row reaches; rows beyond it never meet dY (valid padding with a
  // stride that does not divide), so they are sliced off rather than padded negatively.
  let bottom = kh - 1 + (oh - 1) * sh + 1 - h - top;
  let right = kw - 1 + (ow - 1) * sw + 1 - w - left;
  let xs = x;
  if (bottom < 0 || right < 0) {
    const hh = bottom < 0 ? h + bottom : h;
    const ww = right < 0 ? w + right : w;
    xs = s.run('Slice', { x }, { begin: [0, 0, 0, 0], size: [x.shape[0], hh, ww, x.shape[3]] });
    bottom = Math.max(bottom, 0);
    right = Math.max(right, 0);
  }
  const xt = s.run('Transpose', { x: xs }, { perm: [3, 1, 2, 0] }); // [c, H, W, n]
  const dyt = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }); // [oh, ow, n, o]
  const g = s.run(
    'Conv2D',
    { x: xt, filter: dyt },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
      dimRoundingMode: undefined,
    },
  ); // [c, kh, kw, o]
  return s.done(s.run('Transpose', { x: g }, { perm: [1, 2, 0, 3] }));
}

/**
 * dW[(i, j, c), o] = sum_m colsT[(i, j, c), m] dY[m, o], with the im2col matrix built transposed
 * in JS: the GEMM's output already has the filter's layout (no weight-sized transpose) and its
 * reduction runs over all pixels of the batch.
 */
function gemmPath(
  s: WasmScope,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  m: number,
  k: number,
  n: number,
  c: number,
  o: number,
): tf.TensorInfo {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const colsT = s.alloc([1, k, m]);
  const cols = s.view(colsT);
  const xv = s.view(x);
  cols.fill(0);
  // Row by row of colsT: sequential writes, reads strided by s * c (im2col's scattered writes
  // the other way round cost more than the GEMM).
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let ch = 0; ch < c; ch++) {
        let dst = ((i * kw + j) * c + ch) * m;
        for (let b = 0; b < n; b++) {
          for (let y = 0; y < oh; y++, dst += ow) {
            const yy = y * sh - top + i;
            if (yy < 0 || yy >= h) continue;
            const row = (b * h + yy) * w;
            for (let xo = 0; xo < ow; xo++) {
              const xx = xo * sw - left + j;
              if (xx >= 0 && xx < w) cols[dst + xo] = xv[(row + xx) * c + ch];
            }
          }
        }
      }
    }
  }
  const dw = s.run(
    'BatchMatMul',
    { a: colsT, b: s.reshape(dy, [1, m, o]) },
    { transposeA: false, transposeB: false },
  ); // [1, k, o]
  return s.reshape(dw, [kh, kw, c, o]);
}
