// The identity trial's optimizers (tfjs SGD, momentum or Adam): made from the config, their state
// read for a checkpoint and put back exactly on resume.
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { IdentityOptimizerState } from './identityCheckpoint.js';
import type { IdentityConfig } from './identityConfig.js';

/**
 * Deviation: tfjs's Adam keeps beta1^t and beta2^t as running products but its setWeights
 * recomputes them with pow, which is not bit-identical; they are saved and put back as they were
 * so that a resumed run continues exactly.
 */
type AdamBetaPowers = { accBeta1: tf.Variable; accBeta2: tf.Variable };

/** An optimizer's state as getWeights gives it: step count, then its slot variables. */
export async function optimizerState(opt: tf.Optimizer): Promise<IdentityOptimizerState> {
  const [iter, ...slots] = await opt.getWeights();
  const iterations = (await iter.tensor.data())[0];
  iter.tensor.dispose(); // a fresh scalar per call; the slots are the optimizer's own variables
  const state: IdentityOptimizerState = { iterations, tensors: slots };
  if (opt instanceof tf.AdamOptimizer) {
    const a = opt as unknown as AdamBetaPowers;
    state.accBeta = [(await a.accBeta1.data())[0], (await a.accBeta2.data())[0]];
  }
  return state;
}

/** Puts a saved state back into a fresh optimizer of the same kind over the same variables. */
export async function restoreOptimizer(
  opt: tf.Optimizer,
  s: IdentityOptimizerState,
  variables: number,
  cfg: IdentityConfig,
  what: string,
): Promise<void> {
  const perVariable = cfg.optimizer === 'adam' ? 2 : cfg.optimizer === 'momentum' ? 1 : 0;
  // No slots yet is fine (tfjs creates them at the first step).
  if (s.tensors.length !== 0 && s.tensors.length !== variables * perVariable) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `${what}: ${s.tensors.length} ${cfg.optimizer} state tensors for ${variables} trained variables (expected ${variables * perVariable}); were other layers frozen?`,
    );
  }
  const iter = tf.scalar(s.iterations, 'int32');
  // setWeights makes its own variables from these tensors (sharing their data, so the caller
  // may dispose them).
  await opt.setWeights([{ name: 'iter', tensor: iter }, ...s.tensors]);
  iter.dispose();
  if (s.accBeta && opt instanceof tf.AdamOptimizer) {
    const a = opt as unknown as AdamBetaPowers;
    tf.tidy(() => {
      a.accBeta1.assign(tf.scalar(s.accBeta![0]));
      a.accBeta2.assign(tf.scalar(s.accBeta![1]));
    });
  }
}

export function makeOptimizer(cfg: IdentityConfig, lr: number): tf.Optimizer {
  if (cfg.optimizer === 'adam') return tf.train.adam(lr);
  if (cfg.optimizer === 'momentum') return tf.train.momentum(lr, cfg.momentum);
  return tf.train.sgd(lr);
}
