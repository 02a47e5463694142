// The identity trial's data: labelled image sets resolved from a dataset (or a folder of generated
// sketches matched by name), decoded at the body's input size; features of a body layer; which
// body parameters stay frozen.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { matrix, type Matrix } from '@fidlab/fid-core';
import {
  decodeImage,
  itemsOfSplit,
  listImages,
  toUnitFloat,
  type DatasetIndex,
  type DatasetItem,
} from '@fidlab/datasets';
import { paramGroup, type IdentityBody } from '@fidlab/models';
import type { IdentityImageSet } from './identityConfig.js';

/** Labelled images, resized to the body's input, as one [n, S, S, 3] tensor in [0,1]. */
export interface LabelledImages {
  x: tf.Tensor4D;
  labels: string[];
}

const stem = (p: string) => path.basename(p, path.extname(p));
const identityOf = (it: DatasetItem) => it.identity ?? stem(it.b ?? it.a);

/**
 * Decodes images and brings each to the body's input size with the body's own resize, so that
 * training sees exactly what `identity:<dir>:<layer>` will see at extraction time.
 */
export async function loadImages(files: string[], body: IdentityBody): Promise<tf.Tensor4D> {
  const out: tf.Tensor4D[] = [];
  try {
    for (const f of files) {
      const img = await decodeImage(f);
      out.push(
        tf.tidy(() =>
          body.resize(tf.tensor4d(toUnitFloat(img.data), [1, img.height, img.width, 3])),
        ),
      );
    }
    return tf.concat(out, 0);
  } finally {
    tf.dispose(out);
  }
}

/** Resolves a probe/gallery/training image set to files and identities. */
export function imageSet(
  index: DatasetIndex,
  set: IdentityImageSet,
  defaultSplit: string,
  what: string,
): { files: string[]; labels: string[] } {
  if ('dir' in set) {
    const items = itemsOfSplit(index, set.split ?? defaultSplit);
    const byStem = new Map<string, string>();
    for (const it of items) {
      byStem.set(stem(it.a), identityOf(it));
      if (it.b) byStem.set(stem(it.b), identityOf(it));
    }
    const files = listImages(set.dir).images;
    if (files.length === 0) {
      throw new FidlabError(ErrorCode.INVALID_INPUT, `${what}: ${set.dir} holds no images`);
    }
    const unmatched = files.filter((f) => !byStem.has(stem(f)));
    if (unmatched.length > 0) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `${what}: ${unmatched.length} of ${files.length} images in ${set.dir} match no item of split '${set.split ?? defaultSplit}' by file name (first: ${unmatched
          .slice(0, 3)
          .map((f) => path.basename(f))
          .join(', ')})`,
      );
    }
    return { files, labels: files.map((f) => byStem.get(stem(f)) as string) };
  }
  const items = itemsOfSplit(index, set.split);
  const files = items.map((it) => (set.images === 'photos' ? it.a : (it.b ?? it.a)));
  return { files, labels: items.map(identityOf) };
}

/** Features of one body layer (or 'logits'), in batches, as a float64 matrix. */
export function layerFeatures(
  body: IdentityBody,
  params: Map<string, tf.Tensor>,
  classifier: { w: tf.Tensor2D; b: tf.Tensor1D },
  x: tf.Tensor4D,
  layer: string,
  batchSize: number,
): Matrix {
  const n = x.shape[0];
  let out: Float64Array | null = null;
  let cols = 0;
  for (let start = 0; start < n; start += batchSize) {
    const rows = Math.min(batchSize, n - start);
    const f = tf.tidy(() => {
      const xb = x.slice([start, 0, 0, 0], [rows, -1, -1, -1]);
      if (layer === 'logits') {
        const feat = body.forward(params, xb, [body.featureLayer])[body.featureLayer];
        return tf.add(tf.matMul(feat, classifier.w), classifier.b) as tf.Tensor2D;
      }
      return body.forward(params, xb, [layer])[layer];
    });
    const data = f.dataSync();
    cols = f.shape[1];
    f.dispose();
    out ??= new Float64Array(n * cols);
    out.set(data, start * cols);
  }
  return matrix(n, cols, out ?? new Float64Array(0));
}

/** Which body parameters stay fixed under `freezeThrough` or `frozen`. */
export function frozenNames(
  body: IdentityBody,
  freezeThrough: string | undefined,
  count: number | undefined,
): Set<string> {
  const frozen = new Set<string>();
  if (count !== undefined) {
    if (count > body.groups.length) {
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `frozen: ${count} exceeds the body's ${body.groups.length} parameter groups`,
      );
    }
    freezeThrough = count === 0 ? undefined : body.groups[count - 1];
  }
  if (freezeThrough === undefined) return frozen;
  const last =
    freezeThrough === 'body' ? body.groups.length - 1 : body.groups.indexOf(freezeThrough);
  if (last < 0) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `freezeThrough: unknown layer '${freezeThrough}' (known: body, ${body.groups.join(', ')})`,
    );
  }
  const groups = new Set(body.groups.slice(0, last + 1));
  for (const name of body.params.keys()) if (groups.has(paramGroup(name))) frozen.add(name);
  return frozen;
}
