// Resuming an identity trial: the newest complete checkpoint's weights and optimizer state back
// into the run's networks, refusing (and naming) a checkpoint of another body, other classes or
// another optimizer.
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { describeRemoved, removeUnfinishedCheckpoints } from '../checkpointFolder.js';
import {
  listIdentityCheckpoints,
  loadIdentityCheckpoint,
  loadIdentityTrainingState,
  type IdentityCheckpointManifest,
  type IdentityTrainingState,
} from './identityCheckpoint.js';
import type { IdentityConfig } from './identityConfig.js';
import { restoreOptimizer } from './identityOptimizer.js';

/**
 * Loads the newest complete checkpoint of `cfg.out` into the networks and optimizers (a damaged
 * one is skipped for the one before, as generator trials do) and returns its epoch, or null when
 * there is none. A checkpoint of another body, other classes or without optimizer state is
 * refused, naming the difference.
 */
export async function resumeIdentity(
  cfg: IdentityConfig,
  net: {
    body: IdentityCheckpointManifest['body'];
    classes: string[];
    params: Map<string, tf.Tensor>;
    bodyVars: tf.Variable[];
    classifier: { w: tf.Variable; b: tf.Variable };
    bodyOpt: tf.Optimizer | null;
    headOpt: tf.Optimizer;
    log: (line: string) => void;
  },
): Promise<{ epoch: number; dir: string } | null> {
  // What crashed checkpoint writes left; said in the resume line.
  const cleaned = describeRemoved(await removeUnfinishedCheckpoints(cfg.out));
  for (const { dir } of await listIdentityCheckpoints(cfg.out)) {
    let loaded: Awaited<ReturnType<typeof loadIdentityCheckpoint>>;
    let state: IdentityTrainingState | null;
    try {
      loaded = await loadIdentityCheckpoint(dir);
    } catch (err) {
      net.log(`skipping damaged checkpoint ${dir}: ${(err as Error).message}`);
      continue;
    }
    const { manifest, tensors } = loaded;
    try {
      try {
        state = await loadIdentityTrainingState(dir, manifest);
      } catch (err) {
        net.log(`skipping damaged checkpoint ${dir}: ${(err as Error).message}`);
        continue;
      }
      const stateTensors = [state?.body, state?.head].flatMap(
        (x) => x?.tensors.map((t) => t.tensor) ?? [],
      );
      try {
        if (!state) {
          throw new FidlabError(
            ErrorCode.INVALID_INPUT,
            `${dir} has no optimizer state (written before identity trials could resume, or not the newest checkpoint), so the trial cannot resume from it exactly`,
          );
        }
        if (state.kind !== cfg.optimizer) {
          throw new FidlabError(
            ErrorCode.INVALID_CONFIG,
            `checkpoint ${dir} was trained with optimizer ${state.kind}, this run asks for ${cfg.optimizer}`,
          );
        }
        if ((state.body === null) !== (net.bodyOpt === null)) {
          throw new FidlabError(
            ErrorCode.INVALID_CONFIG,
            `checkpoint ${dir} ${state.body ? 'trained' : 'froze'} the whole body, this run ${net.bodyOpt ? 'trains' : 'freezes'} it`,
          );
        }
        restoreWeights(dir, manifest, tensors, net);
        if (net.bodyOpt && state.body) {
          await restoreOptimizer(
            net.bodyOpt,
            state.body,
            net.bodyVars.length,
            cfg,
            `${dir} (body)`,
          );
        }
        await restoreOptimizer(net.headOpt, state.head, 2, cfg, `${dir} (classifier)`);
      } finally {
        tf.dispose(stateTensors); // restoreOptimizer's variables hold their own references
      }
      net.log(`resuming ${cfg.out} from ${dir} (epoch ${manifest.epoch})${cleaned}`);
      return { epoch: manifest.epoch, dir };
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }
  net.log(`no complete checkpoint in ${cfg.out}: starting at epoch 1${cleaned}`);
  return null;
}

/** Copies a checkpoint's weights into the run's variables (frozen ones replace the pretrained). */
function restoreWeights(
  dir: string,
  manifest: IdentityCheckpointManifest,
  tensors: Map<string, tf.Tensor>,
  net: {
    body: IdentityCheckpointManifest['body'];
    classes: string[];
    params: Map<string, tf.Tensor>;
    classifier: { w: tf.Variable; b: tf.Variable };
  },
): void {
  const b = manifest.body;
  if (b.kind !== net.body.kind || b.inputSize !== net.body.inputSize) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `checkpoint ${dir} is a ${b.kind} body at ${b.inputSize} px, this run a ${net.body.kind} body at ${net.body.inputSize} px`,
    );
  }
  if (manifest.classes.join('\n') !== net.classes.join('\n')) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `checkpoint ${dir} classifies ${manifest.classes.length} identities, this run's training split has ${net.classes.length} (or other ones): the dataset changed`,
    );
  }
  const targets = new Map<string, tf.Tensor>([
    ...net.params,
    ['classifier/weight', net.classifier.w],
    ['classifier/bias', net.classifier.b],
  ]);
  const missing = [...targets.keys()].filter((k) => !tensors.has(k));
  const misShaped = [...targets.keys()].filter(
    (k) => tensors.has(k) && tensors.get(k)!.shape.join(',') !== targets.get(k)!.shape.join(','),
  );
  if (missing.length > 0 || misShaped.length > 0) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `checkpoint ${dir} does not fit this run's network: ${[
        missing.length ? `missing ${missing.slice(0, 4).join(', ')}` : '',
        misShaped.length ? `mis-shaped ${misShaped.slice(0, 4).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}`,
    );
  }
  for (const [name, target] of targets) {
    const t = tensors.get(name)!;
    if (target instanceof tf.Variable) {
      target.assign(t);
    } else {
      // A frozen parameter: a constant tensor, replaced by the checkpoint's (kept, not disposed).
      target.dispose();
      net.params.set(name, t);
      tensors.delete(name);
    }
  }
}
