// Conv2DBackpropInput for wasm, replacing its direct loop (about 10x slower than the forward
// convolution): the input gradient (also the forward pass of a transposed convolution) is
//   cols[m, (i, j, c)] = sum_o dY[m, o] * W[i, j, c, o]      (one GEMM, m = (n, y, x))
//   dX[n, s*y + i - padTop, s*x + j - padLeft, c] += cols[m, (i, j, c)]   (col2im)
// The GEMM runs in wasm (XNNPACK, untransposed operands: its fast path); col2im adds the
// columns in JS straight in the wasm heap.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';

export function conv2dBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: Attrs;
}): tf.TensorInfo {
  const { dy, filter } = args.inputs as Record<'dy' | 'filter', tf.TensorInfo>;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
  };
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropInput: only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const s = new WasmScope(args.backend as BackendWasm);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: o } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { outHeight: oh, outWidth: ow } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const k = kh * kw * c;
  const m = n * oh * ow;

  // Two GEMM layouts, the operand XNNPACK packs (the second) kept small: with more filter
  // taps*channels than pixels (deep layers: big filters, few pixels) the filter is streamed as
  // is against dY^T, colsT[(i, j, c), m]; otherwise the filter is transposed once, cols[m, k].
  const transposed = k > m;
  let cols: tf.TensorInfo;
  if (transposed) {
    const dyt = s.run('Transpose', { x: s.reshape(dy, [m, o]) }, { perm: [1, 0] }); // [o, m]
    cols = s.run(
      'BatchMatMul',
      { a: s.reshape(filter, [1, k, o]), b: s.reshape(dyt, [1, o, m]) },
      { transposeA: false, transposeB: false },
    ); // [1, k, m]
  } else {
    const wt = s.run('Transpose', { x: s.reshape(filter, [k, o]) }, { perm: [1, 0] }); // [o, k]
    cols = s.run(
      'BatchMatMul',
      { a: s.reshape(dy, [1, m, o]), b: s.reshape(wt, [1, o, k]) },
      { transposeA: false, transposeB: false },
    ); // [1, m, k]
    // 1x1 stride-1 unpadded: col2im is the identity, dX = dY W^T.
    const identity = kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0;
    if (identity && oh === h && ow === w) return s.done(s.reshape(cols, inputShape));
  }
  const dx = s.alloc(inputShape);
  const out = s.view(dx);
  const col = s.view(cols);
  out.fill(0);
  // Element (pixel mi, tap/channel kk) of the GEMM result sits at mi * k + kk, or kk * m + mi.
  const step = transposed ? m : 1; // distance between consecutive channels of one tap
  const rowStride = w * c;
  const imgStride = h * rowStride;
  let mi = 0;
  for (let b = 0; b < n; b++) {
    const img = b * imgStride;
    for (let y = 0; y < oh; y++) {
      const y0 = y * sh - top;
      for (let x = 0; x < ow; x++, mi++) {
        const x0 = x * sw - left;
        let kk = 0; // (i, j, 0) tap index into the k axis
        for (let i = 0; i < kh; i++) {
          const yy = y0 + i;
          if (yy < 0 || yy >= h) {
            kk += kw * c;
            continue;
          }
          const row = img + yy * rowStride;
          for (let j = 0; j < kw; j++, kk += c) {
            const xx = x0 + j;
            if (xx < 0 || xx >= w) continue;
            let dst = row + xx * c;
            const end = dst + c;
            let src = transposed ? kk * m + mi : mi * k + kk;
            for (; dst < end; dst++, src += step) out[dst] += col[src];
          }
        }
      }
    }
  }
  return s.done(dx);
}
