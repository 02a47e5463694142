// Conv2DBackpropInput for wasm, replacing its direct loop (about 10x slower than the forward
// convolution): the input gradient (also the forward pass of a transposed convolution) is
//   cols[m, (i, j, c)] = sum_o dY[m, o] * W[i, j, c, o]      (one GEMM, m = (n, y, x))
//   dX[n, s*y + i - padTop, s*x + j - padLeft, c] += cols[m, (i, j, c)]   (col2im)
// The GEMM runs in wasm (XNNPACK, untransposed operands: its fast path); col2im adds runs of
// c contiguous floats in JS straight in the wasm heap.
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

  // 1x1 stride-1 unpadded: col2im is the identity, dX = dY W^T.
  const w2 = s.reshape(filter, [k, o]);
  const wt = s.run('Transpose', { x: w2 }, { perm: [1, 0] }); // [o, k]
  const cols = s.run(
    'BatchMatMul',
    { a: s.reshape(dy, [1, m, o]), b: s.reshape(wt, [1, o, k]) },
    {
      transposeA: false,
      transposeB: false,
    },
  ); // [1, m, k]
  if (
    kh === 1 &&
    kw === 1 &&
    sh === 1 &&
    sw === 1 &&
    top === 0 &&
    left === 0 &&
    oh === h &&
    ow === w
  ) {
    return s.done(s.reshape(cols, inputShape));
  }
  const dx = s.alloc(inputShape);
  const out = s.view(dx);
  const col = s.view(cols);
  out.fill(0);
  const rowStride = w * c;
  const imgStride = h * rowStride;
  let src = 0;
  for (let b = 0; b < n; b++) {
    const img = b * imgStride;
    for (let y = 0; y < oh; y++) {
      const y0 = y * sh - top;
      for (let x = 0; x < ow; x++) {
        const x0 = x * sw - left;
        for (let i = 0; i < kh; i++) {
          const yy = y0 + i;
          if (yy < 0 || yy >= h) {
            src += kw * c;
            continue;
          }
          const row = img + yy * rowStride;
          for (let j = 0; j < kw; j++) {
            const xx = x0 + j;
            if (xx < 0 || xx >= w) {
              src += c;
              continue;
            }
            let dst = row + xx * c;
            const end = src + c;
            while (src < end) out[dst++] += col[src++];
          }
        }
      }
    }
  }
  return s.done(dx);
}
