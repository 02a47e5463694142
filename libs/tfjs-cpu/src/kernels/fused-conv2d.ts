// FusedConv2D (convolution + bias + activation, what inference layers run: tf.fused.conv2d) for
// wasm: the convolution on the threaded sgemm (conv-gemm.ts), then bias and activation in one
// pass over the output. XNNPACK's fused kernel runs on one thread. Activations other than linear,
// relu, relu6 and leakyrelu, dilations and NCHW go to wasm's own kernel.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';
import { convForward, geom } from './conv-gemm.js';

const ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'leakyrelu']);

export function fusedConv2d(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs },
  original: tf.KernelFunc,
): tf.TensorInfo {
  const { x, filter, bias } = args.inputs as Record<'x' | 'filter' | 'bias', tf.TensorInfo>;
  const a = args.attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dilations: [number, number] | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    activation: string;
    leakyreluAlpha?: number;
  };
  const dil =
    typeof a.dilations === 'number' ? [a.dilations, a.dilations] : (a.dilations ?? [1, 1]);
  const o = filter.shape[3];
  const plainBias =
    !bias || bias.shape.length === 0 || (bias.shape.length === 1 && bias.shape[0] === o);
  if (
    a.dataFormat === 'NCHW' ||
    dil[0] !== 1 ||
    dil[1] !== 1 ||
    !ACTIVATIONS.has(a.activation) ||
    !plainBias ||
    x.dtype !== 'float32'
  ) {
    return original(args as never) as tf.TensorInfo;
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const s = new WasmScope(args.backend as BackendWasm);
  const y = s.alloc(info.outShape);
  const out = s.view(y);
  convForward(geom(info), s.view(x), s.view(filter), out);
  const b = bias ? s.view(bias) : null;
  const scalarBias = bias !== undefined && bias.shape.length === 0;
  const lo = a.activation === 'linear' ? -Infinity : 0;
  const hi = a.activation === 'relu6' ? 6 : Infinity;
  const alpha = a.activation === 'leakyrelu' ? (a.leakyreluAlpha ?? 0.2) : 0;
  for (let i = 0, ch = 0; i < out.length; i++) {
    let v = out[i] + (b ? b[scalarBias ? 0 : ch] : 0);
    if (alpha) v = v < 0 ? v * alpha : v;
    else v = v < lo ? lo : v > hi ? hi : v;
    out[i] = v;
    if (++ch === o) ch = 0;
  }
  return s.done(y);
}
