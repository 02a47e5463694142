import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { ParamSet } from '@fidlab/models';

/**
 * @fidlab/tfjs-cpu's one-kernel Adam update (its ADAM_KERNEL, registered for the wasm backend):
 * the same update as the ops below in one pass instead of ~13 kernels per parameter. Looked up by
 * name so that training does not depend on that package.
 */
const FUSED_ADAM_KERNEL = 'FidlabAdam';

/** PyTorch's Adam default: keeps the denominator away from 0 for parameters with no gradient yet. */
export const ADAM_EPS = 1e-8;

/**
 * Adam exactly as `torch.optim.Adam` (no weight decay, no amsgrad), written out so that its state
 * (step count, first and second moments per named parameter) can be saved and restored exactly:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
export class Adam {
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: ParamSet,
    private readonly beta1: number,
    private readonly beta2: number,
  ) {
    for (const [name, p] of params.params) {
      // tidy frees the zeros tensors; the variables keep their data.
      this.m.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(p), false)),
      );
      this.v.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(p), false)),
      );
    }
  }

  /** One update; `grads` as returned by tf.variableGrads (keyed by tfjs variable name). */
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = Math.sqrt(1 - this.beta2 ** this.step);
    const fused = tf.getKernel(FUSED_ADAM_KERNEL, tf.getBackend()) != null;
    const attrs = { lr, beta1: this.beta1, beta2: this.beta2, step: this.step, eps: ADAM_EPS };
    tf.tidy(() => {
      for (const [name, p] of this.params.params) {
        const g = grads[p.name];
        if (!g) continue; // not on the loss's path (cannot happen for our networks)
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        if (fused) {
          const [p1, m1, v1] = tf
            .engine()
            .runKernel(FUSED_ADAM_KERNEL, { param: p, grad: g, m, v }, attrs) as tf.Tensor[];
          p.assign(p1);
          m.assign(m1);
          v.assign(v1);
          continue;
        }
        // The definition; the fused kernel computes the same.
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2), ADAM_EPS);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), lr / bc1)));
      }
    });
  }

  /** The moments by name (`m.<param>`, `v.<param>`); the step count is saved beside them. */
  tensors(): [string, tf.Tensor][] {
    const out: [string, tf.Tensor][] = [];
    for (const name of this.params.params.keys()) {
      out.push([`m.${name}`, this.m.get(name)!], [`v.${name}`, this.v.get(name)!]);
    }
    return out;
  }

  /** Restores a saved state; every moment must be present with its parameter's shape. */
  load(step: number, tensors: Map<string, { shape: number[]; data: Float32Array }>, file: string) {
    for (const [key, target] of [...this.m, ...this.v].map(
      ([n, t], i) => [`${i < this.m.size ? 'm' : 'v'}.${n}`, t] as const,
    )) {
      const t = tensors.get(key);
      if (!t || t.shape.join(',') !== target.shape.join(',')) {
        throw new FidlabError(
          ErrorCode.BAD_FILE_FORMAT,
          `${file}: optimizer state ${key} is ${t ? `[${t.shape}]` : 'missing'}, expected [${target.shape}]`,
        );
      }
      tf.tidy(() => target.assign(tf.tensor(t.data, t.shape, 'float32')));
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
