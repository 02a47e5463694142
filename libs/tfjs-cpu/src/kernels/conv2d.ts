// Conv2D for wasm as im2col + the threaded sgemm (conv-gemm.ts): XNNPACK's convolution runs on
// one thread, and during training repacks a new filter on every call (~9 ns per weight; the
// optimizer makes a new filter every step). Dilated convolutions go to wasm's own kernel.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';
import { convForward, geom } from './conv-gemm.js';
import { convForwardWinograd, winogradFits } from './conv-winograd.js';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs };

/**
 * y = conv(x, filter) on the sgemm for NHWC, undilated convolutions (also FusedConv2D's
 * convolution: the attributes it shares); null for the others.
 */
export function sgemmConv2d(args: Args): tf.TensorInfo | null {
  const { x, filter } = args.inputs as Record<'x' | 'filter', tf.TensorInfo>;
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dilations: [number, number] | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const dil = typeof dilations === 'number' ? [dilations, dilations] : (dilations ?? [1, 1]);
  if (dataFormat === 'NCHW' || dil[0] !== 1 || dil[1] !== 1) return null;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const s = new WasmScope(args.backend as BackendWasm);
  const y = s.alloc(info.outShape);
  const g = geom(info);
  (winogradFits(g) ? convForwardWinograd : convForward)(g, s.view(x), s.view(filter), s.view(y));
  return s.done(y);
}

export function conv2d(args: Args, original: tf.KernelFunc): tf.TensorInfo {
  return sgemmConv2d(args) ?? (original(args as never) as tf.TensorInfo);
}
