import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '@fidlab/base';

/**
 * The named tensors of one network: trainable parameters and buffers (BatchNorm running
 * statistics), in creation order. Names follow PyTorch's state-dict style (`en2.conv.weight`),
 * layouts are tfjs's (conv HWIO, transposed conv HW-out-in, linear in-out).
 */
export class ParamSet {
  readonly params = new Map<string, tf.Variable>();
  readonly buffers = new Map<string, tf.Variable>();

  /** Trainable parameters, in creation order (the optimizer's order). */
  trainable(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** Number of trainable scalars (what PyTorch's `sum(p.numel() for p in parameters())` counts). */
  countParams(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** Every tensor, parameters then buffers, with its name. */
  entries(): [string, tf.Variable][] {
    return [...this.params.entries(), ...this.buffers.entries()];
  }

  /** Name -> shape of every tensor (for checkpoint compatibility checks). */
  shapes(): Record<string, number[]> {
    return Object.fromEntries(this.entries().map(([k, v]) => [k, v.shape]));
  }

  dispose(): void {
    for (const [, v] of this.entries()) v.dispose();
  }
}

/** Standard normal draws from a seeded Rng (Box-Muller; both values of each pair are used). */
export function normalSampler(rng: Rng): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = rng.next(); // log(0) guard
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * Creates the variables of a network in a fixed order. pix2pix's `init_weights('normal', 0.02)`:
 * conv/linear weights ~ N(0, 0.02), biases 0, BatchNorm scale ~ N(1, 0.02), shift 0. The draws
 * come from one seeded Rng in creation order, so a seed gives the same network on every backend.
 * With `init: 'zeros'` nothing is drawn (the values are about to be loaded from a checkpoint).
 */
export class ParamBuilder {
  readonly set = new ParamSet();
  private readonly normal: () => number;

  constructor(
    seed: number,
    private readonly init: 'normal' | 'zeros' = 'normal',
  ) {
    this.normal = normalSampler(createRng(seed));
  }

  private add(name: string, shape: number[], values: Float32Array, trainable: boolean) {
    if (this.set.params.has(name) || this.set.buffers.has(name)) {
      throw new Error(`duplicate parameter name ${name}`);
    }
    // No tfjs variable name: tfjs names are global, and two networks share ours.
    // The initial tensor is disposed: the variable keeps its own reference to the data.
    const init = tf.tensor(values, shape, 'float32');
    const v = tf.variable(init, trainable);
    init.dispose();
    (trainable ? this.set.params : this.set.buffers).set(name, v);
    return v;
  }

  /** N(mean, std) values (or zeros in 'zeros' mode). */
  gaussian(name: string, shape: number[], mean: number, std: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (this.init === 'normal') for (let i = 0; i < n; i++) values[i] = mean + std * this.normal();
    return this.add(name, shape, values, true);
  }

  constant(name: string, shape: number[], value: number, trainable = true): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value);
    return this.add(name, shape, values, trainable);
  }
}
