// FusedConv2D (convolution + bias + activation, what inference layers run: tf.fused.conv2d) for
// wasm: the convolution on the threaded sgemm (conv-gemm.ts), then bias and activation in one
// pass over the output. XNNPACK's fused kernel runs on one thread. Activations other than linear,
// relu, relu6 and leakyrelu, dilations and NCHW go to wasm's own kernel.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WasmScope, type Attrs } from '../wasm-call.js';
import { sgemmConv2d } from './conv2d.js';
import { addressOf, heapFunctions } from './heap-simd.js';
import { wasmAsm as W } from '@fidlab/base';

/**
 * biasAct(out, bias, pixels, rowBytes, alpha, hi) on the backend's memory, rowBytes a multiple of
 * 16: each row v = min(max(v + bias, alpha * (v + bias)), hi). linear: alpha 1, hi inf; relu:
 * alpha 0; relu6: alpha 0, hi 6; leakyrelu: its alpha (< 1).
 */
function biasActBody(): number[] {
  const [OUT, BIAS, PIXELS, ROW, ALPHA, HI] = [0, 1, 2, 3, 4, 5];
  const [P, E, Q] = [6, 7, 8];
  const [V, A, H] = [9, 10, 11];
  const { code, get, set, tee, c32, op, simd, w } = W.assembler();
  const v = (o: number, off = 0) => [...simd(o), 0, ...W.uleb(off)];
  w(get(ALPHA), simd(W.F32X4_SPLAT), set(A), get(HI), simd(W.F32X4_SPLAT), set(H));
  w(get(OUT), tee(P), get(PIXELS), get(ROW), op(W.I32_MUL), op(W.I32_ADD), set(E));
  w(op(W.LOOP, W.VOID));
  {
    w(c32(0), set(Q));
    w(op(W.LOOP, W.VOID));
    w(get(P), get(Q), op(W.I32_ADD), v(W.V128_LOAD), get(BIAS), get(Q), op(W.I32_ADD));
    w(v(W.V128_LOAD), simd(W.F32X4_ADD), tee(V), get(V), get(A), simd(W.F32X4_MUL));
    w(simd(W.F32X4_MAX), get(H), simd(W.F32X4_MIN), set(V));
    w(get(P), get(Q), op(W.I32_ADD), get(V), v(W.V128_STORE));
    w(get(Q), c32(16), op(W.I32_ADD), tee(Q), get(ROW), op(W.I32_LT_U), op(W.BR_IF, 0));
    w(op(W.END));
    w(get(P), get(ROW), op(W.I32_ADD), tee(P), get(E), op(W.I32_LT_U), op(W.BR_IF, 0));
  }
  w(op(W.END), op(W.END));
  return [2, 3, W.I32, 3, W.V128, ...code];
}

type BiasAct = (
  out: number,
  bias: number,
  pixels: number,
  rowBytes: number,
  alpha: number,
  hi: number,
) => void;
const simd = heapFunctions<{ biasAct: BiasAct }>([
  {
    name: 'biasAct',
    params: [W.I32, W.I32, W.I32, W.I32, W.F32, W.F32],
    body: biasActBody(),
  },
]);

const ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'leakyrelu']);

export function fusedConv2d(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs },
  original: tf.KernelFunc,
): tf.TensorInfo {
  const { x, filter, bias } = args.inputs as Record<'x' | 'filter' | 'bias', tf.TensorInfo>;
  const a = args.attrs as unknown as { activation: string; leakyreluAlpha?: number };
  const o = filter.shape[3];
  const plainBias =
    !bias || bias.shape.length === 0 || (bias.shape.length === 1 && bias.shape[0] === o);
  const y =
    ACTIVATIONS.has(a.activation) && plainBias && x.dtype === 'float32' ? sgemmConv2d(args) : null;
  if (!y) return original(args as never) as tf.TensorInfo;
  const s = new WasmScope(args.backend as BackendWasm);
  const out = s.view(y);
  const lo = a.activation === 'linear' ? -Infinity : 0;
  const hi = a.activation === 'relu6' ? 6 : Infinity;
  const alpha = a.activation === 'leakyrelu' ? (a.leakyreluAlpha ?? 0.2) : 0;
  const slope = a.activation === 'linear' ? 1 : alpha;
  if (bias && bias.shape.length === 1 && o % 4 === 0 && slope <= 1 && out.length > 0) {
    const backend = args.backend as BackendWasm;
    const at = (t: tf.TensorInfo) => addressOf(backend, t);
    simd(backend).biasAct(at(y), at(bias), out.length / o, 4 * o, slope, hi);
    return s.done(y);
  }
  // Scalar or no bias, channels not a multiple of 4: in JS.
  const b = bias ? s.view(bias) : null;
  const scalarBias = bias !== undefined && bias.shape.length === 0;
  for (let i = 0, ch = 0; i < out.length; i++) {
    let v = out[i] + (b ? b[scalarBias ? 0 : ch] : 0);
    if (alpha) v = v < 0 ? v * alpha : v;
    else v = v < lo ? lo : v > hi ? hi : v;
    out[i] = v;
    if (++ch === o) ch = 0;
  }
  return s.done(y);
}
