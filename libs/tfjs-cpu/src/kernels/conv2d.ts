// Conv2D for wasm when the filter is large next to the image (deep layers during training):
// XNNPACK's convolution repacks a new filter on every call (~9 ns per weight; the optimizer
// makes a new filter every step), which for a [4, 4, 256, 256] filter on a 2x2 input costs 50x
// the arithmetic. Its fully-connected GEMM packs ~6x faster, so these layers run as
//   Y[m, o] = cols[m, (i, j, c)] W[(i, j, c), o]     (im2col in JS, then one GEMM).
// Other convolutions (many pixels per weight, dilations, constant filters at inference time
// where the packing is cached) go to wasm's own kernel.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';

/** GEMM path while pixels < PIXELS_PER_CHANNEL * output channels (im2col stays small). */
const PIXELS_PER_CHANNEL = 4;

export function conv2d(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs },
  original: tf.KernelFunc,
): tf.TensorInfo {
  const { x, filter } = args.inputs as Record<'x' | 'filter', tf.TensorInfo>;
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dilations: [number, number] | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const dil = typeof dilations === 'number' ? [dilations, dilations] : (dilations ?? [1, 1]);
  if (dataFormat === 'NCHW' || dil[0] !== 1 || dil[1] !== 1)
    return original(args as never) as tf.TensorInfo;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: o } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { outHeight: oh, outWidth: ow } = info;
  const m = n * oh * ow;
  const k = kh * kw * c;
  if (m >= PIXELS_PER_CHANNEL * o) return original(args as never) as tf.TensorInfo;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const s = new WasmScope(args.backend as BackendWasm);
  const colsT = s.alloc([1, m, k]);
  const cols = s.view(colsT);
  const xv = s.view(x);
  cols.fill(0);
  let dst = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        for (let i = 0; i < kh; i++) {
          const yy = y * sh - top + i;
          if (yy < 0 || yy >= h) {
            dst += kw * c;
            continue;
          }
          for (let j = 0; j < kw; j++, dst += c) {
            const xx = xo * sw - left + j;
            if (xx < 0 || xx >= w) continue;
            const src = ((b * h + yy) * w + xx) * c;
            for (let ch = 0; ch < c; ch++) cols[dst + ch] = xv[src + ch];
          }
        }
      }
    }
  }
  const y = s.run(
    'BatchMatMul',
    { a: colsT, b: s.reshape(filter, [1, k, o]) },
    { transposeA: false, transposeB: false },
  ); // [1, m, o]
  return s.done(s.reshape(y, info.outShape));
}
