// MaxPoolGrad for wasm, replacing its own: on 2x2 stride-2 windows (VGG's pools) wasm's
// kernel returns wrong gradients (relative error ~0.7 against the cpu backend). This one
// routes each output gradient to the first maximum of its window, as the cpu backend does.
// Deviation: none from tfjs cpu; ties go to the first position in row-major window order.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';

export function maxPoolGrad(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: Attrs;
}): tf.TensorInfo {
  const { dy, input } = args.inputs as Record<'dy' | 'input', tf.TensorInfo>;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const s = new WasmScope(args.backend as BackendWasm);
  const {
    batchSize: n,
    inHeight: h,
    inWidth: w,
    inChannels: c,
    outHeight: oh,
    outWidth: ow,
  } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const dx = s.alloc(input.shape);
  const out = s.view(dx);
  const x = s.view(input);
  const g = s.view(dy);
  out.fill(0);
  let gi = 0;
  for (let b = 0; b < n; b++) {
    const img = b * h * w * c;
    for (let y = 0; y < oh; y++) {
      const y0 = Math.max(y * sh - top, 0);
      const y1 = Math.min(y * sh - top + kh, h);
      for (let xo = 0; xo < ow; xo++) {
        const x0 = Math.max(xo * sw - left, 0);
        const x1 = Math.min(xo * sw - left + kw, w);
        for (let ch = 0; ch < c; ch++, gi++) {
          let best = -Infinity;
          let at = -1;
          for (let yy = y0; yy < y1; yy++) {
            let p = img + (yy * w + x0) * c + ch;
            for (let xx = x0; xx < x1; xx++, p += c) {
              const v = x[p];
              if (v > best || at < 0) {
                best = v;
                at = p;
              }
            }
          }
          if (at >= 0) out[at] += g[gi];
        }
      }
    }
  }
  return s.done(dx);
}
