// LeakyReLU and its gradient as f32x4 passes on the wasm backend's memory. wasm's LeakyRelu
// costs ~4 ns per element, and tfjs's gradient is three kernels (Greater, Multiply, Select);
// pix2pix's encoder runs one LeakyReLU per block.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmAsm as W } from '@fidlab/base';
import { WasmScope, type Attrs } from '../wasm-call.js';
import { addressOf, heapFunctions } from './heap-simd.js';

/** dx = x > 0 ? dy : alpha dy, the gradient of LeakyRelu (inputs dy, x; attr alpha). */
export const LEAKY_RELU_GRAD_KERNEL = 'FidlabLeakyReluGrad';

/** f(out, a, b, bytes, alpha), bytes a positive multiple of 16 (b unused by the forward pass). */
type Pass = (out: number, a: number, b: number, bytes: number, alpha: number) => void;

function body(grad: boolean): number[] {
  const [OUT, A, B, BYTES, ALPHA] = [0, 1, 2, 3, 4];
  const O = 5;
  const [VA, AL] = [6, 7];
  const { code, get, set, tee, c32, op, simd, w } = W.assembler();
  const load = (base: number) => [...get(base), ...get(O), W.I32_ADD, ...simd(W.V128_LOAD), 0, 0];
  w(get(ALPHA), simd(W.F32X4_SPLAT), set(AL), c32(0), set(O));
  w(op(W.LOOP, W.VOID));
  w(get(OUT), get(O), op(W.I32_ADD));
  if (grad) {
    // a = dy, b = x: select(dy, alpha dy, x > 0)
    w(load(A), tee(VA), get(VA), get(AL), simd(W.F32X4_MUL), load(B));
    w(simd(W.V128_CONST), new Array<number>(16).fill(0), simd(W.F32X4_GT), simd(W.V128_BITSELECT));
  } else {
    // max(x, alpha x), alpha in [0, 1]
    w(load(A), tee(VA), get(VA), get(AL), simd(W.F32X4_MUL), simd(W.F32X4_MAX));
  }
  w(simd(W.V128_STORE), [0, 0]);
  w(get(O), c32(16), op(W.I32_ADD), tee(O), get(BYTES), op(W.I32_LT_U), op(W.BR_IF, 0));
  w(op(W.END), op(W.END));
  return [2, 1, W.I32, 2, W.V128, ...code];
}

const params = [W.I32, W.I32, W.I32, W.I32, W.F32];
const simdFns = heapFunctions<{ forward: Pass; backward: Pass }>([
  { name: 'forward', params, body: body(false) },
  { name: 'backward', params, body: body(true) },
]);

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: Attrs };

/** Runs the f32x4 pass over the first n - n % 4 elements and `tail` over the rest. */
function run(
  args: Args,
  grad: boolean,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  tail: (av: Float32Array, bv: Float32Array, out: Float32Array, i: number) => void,
): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const s = new WasmScope(backend);
  const out = s.alloc(a.shape);
  const n = a.shape.reduce((p, q) => p * q, 1);
  const alpha = (args.attrs as { alpha: number }).alpha;
  const body = n - (n % 4);
  if (body > 0) {
    const f = simdFns(backend)[grad ? 'backward' : 'forward'];
    f(addressOf(backend, out), addressOf(backend, a), addressOf(backend, b), 4 * body, alpha);
  }
  if (body < n) {
    const [av, bv, ov] = [s.view(a), s.view(b), s.view(out)];
    for (let i = body; i < n; i++) tail(av, bv, ov, i);
  }
  return s.done(out);
}

export function leakyRelu(args: Args, original: tf.KernelFunc): tf.TensorInfo {
  const { x } = args.inputs as Record<'x', tf.TensorInfo>;
  const alpha = (args.attrs as { alpha: number }).alpha;
  if (x.dtype !== 'float32' || !(alpha >= 0 && alpha <= 1)) {
    return original(args as never) as tf.TensorInfo;
  }
  return run(args, false, x, x, (xv, _, out, i) => {
    out[i] = xv[i] > 0 ? xv[i] : alpha * xv[i];
  });
}

export function leakyReluGrad(args: Args): tf.TensorInfo {
  const { dy, x } = args.inputs as Record<'dy' | 'x', tf.TensorInfo>;
  const alpha = (args.attrs as { alpha: number }).alpha;
  return run(args, true, dy, x, (dyv, xv, out, i) => {
    out[i] = xv[i] > 0 ? dyv[i] : alpha * dyv[i];
  });
}

const MARK = Symbol.for('@fidlab/tfjs-cpu leakyRelu gradient');

/**
 * Makes LeakyRelu's gradient run LEAKY_RELU_GRAD_KERNEL on backends that have it (the gradient
 * registry is global: other backends keep tfjs's own gradient). Idempotent.
 */
export function registerLeakyReluGradient(): void {
  const base = tf.getGradient('LeakyRelu') as (tf.GradConfig & { [MARK]?: true }) | undefined;
  if (!base || base[MARK]) return;
  const config: tf.GradConfig = {
    kernelName: 'LeakyRelu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (!tf.getKernel(LEAKY_RELU_GRAD_KERNEL, tf.getBackend()) || dy instanceof Array) {
        return base.gradFunc(dy, saved, attrs);
      }
      const [x] = saved;
      return {
        x: () =>
          tf.engine().runKernel(LEAKY_RELU_GRAD_KERNEL, { dy, x }, attrs as never) as tf.Tensor,
      };
    },
  };
  Object.defineProperty(config, MARK, { value: true });
  tf.registerGradient(config);
}
