// Conv2DBackpropFilter for wasm (missing there). The filter gradient of a stride-s convolution
//   dW[i, j, c, o] = sum_{n, y, x} X[n, s*y + i - padTop, s*x + j - padLeft, c] * dY[n, y, x, o]
// is one GEMM of the transposed im2col matrix with dY, on every core (conv-gemm.ts).
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';
import { convBackpropFilter, geom } from './conv-gemm.js';

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
  const dw = s.alloc(filterShape);
  convBackpropFilter(geom(info), s.view(x), s.view(dy), s.view(dw));
  return s.done(dw);
}
