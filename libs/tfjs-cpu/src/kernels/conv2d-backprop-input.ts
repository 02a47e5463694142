// Conv2DBackpropInput for wasm, replacing its direct loop (about 10x slower than the forward
// convolution): the input gradient (also the forward pass of a transposed convolution) is one
// GEMM, cols = dY W^T, on every core (conv-gemm.ts), then col2im; for 3x3, stride 1
// convolutions, a Winograd convolution (conv-winograd.ts).
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';
import { convBackpropInput, geom } from './conv-gemm.js';
import { convBackpropInputWinograd, winogradBackpropFits } from './conv-winograd.js';

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
  const dx = s.alloc(inputShape);
  const g = geom(info);
  const backprop = winogradBackpropFits(g) ? convBackpropInputWinograd : convBackpropInput;
  backprop(g, s.view(dy), s.view(filter), s.view(dx));
  return s.done(dx);
}
