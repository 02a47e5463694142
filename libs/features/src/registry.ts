// The extractor registry: names are part of the CLI and of sweep files. `parseExtractorName`
// (metricRecipe.ts, the one parser of the name grammar) turns a name into a typed recipe; the
// family with that recipe's `family` builds the network.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';
import { inceptionFamily, vggFaceFamily } from './families.js';
import { facerecFamily } from './facerec.js';
import { generatorFamily } from './generatorTap.js';
import { identityFamily } from './identityExtractor.js';
import {
  KNOWN_EXTRACTOR_NAMES,
  parseExtractorName,
  type ExtractorRecipe,
  type ResizeRecipe,
} from './metricRecipe.js';

/** Every family, by recipe family. */
const FAMILIES: { [F in ExtractorRecipe['family']]: ExtractorFamily<F> } = {
  inception: inceptionFamily,
  vggface: vggFaceFamily,
  facerec: facerecFamily,
  generator: generatorFamily,
  identity: identityFamily,
};

/** Every extractor name and name form (metricRecipe.ts's list). */
export function knownExtractors(): string[] {
  return [...KNOWN_EXTRACTOR_NAMES];
}

/**
 * Builds the named extractor (a name, or its parsed recipe); `opts.weights` overrides the default
 * weights file. The tfjs backend is whatever the caller selected (apps call `selectBackend` first).
 */
export async function createExtractor(
  name: string | ExtractorRecipe,
  opts: { weights?: string } = {},
): Promise<FeatureExtractor> {
  const recipe = typeof name === 'string' ? parseExtractorName(name) : name;
  const family = FAMILIES[recipe.family] as ExtractorFamily;
  return family.create(recipe, opts);
}

/**
 * How images reach the extractor's input: resized per image to `inputSize` by folder features
 * (pytorch-bilinear), or by the network itself (`resize`); null when it takes any size as is.
 */
export function extractorResize(e: FeatureExtractor): ResizeRecipe | null {
  if (e.inputSize !== undefined) return { mode: 'pytorch-bilinear', size: e.inputSize };
  return e.resize ?? null;
}

/**
 * sha256 of an extractor's weights: of its one weight file, or, for several files or a
 * checkpoint directory (its top-level files, `samples/` and other folders left out), of the
 * lines `<sha256>  <name>` of each file in order. Null when it names no weight files.
 */
export async function extractorWeightsSha256(e: FeatureExtractor): Promise<string | null> {
  const files: string[] = [];
  for (const f of e.weightFiles ?? []) {
    if ((await stat(f)).isDirectory()) {
      for (const d of (await readdir(f, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      ))
        if (d.isFile()) files.push(join(f, d.name));
    } else files.push(f);
  }
  if (files.length === 0) return null;
  const hashes = await Promise.all(files.map(sha256File));
  if (files.length === 1 && !(await stat((e.weightFiles ?? [])[0])).isDirectory()) return hashes[0];
  const lines = files.map((f, i) => `${hashes[i]}  ${f.slice(f.lastIndexOf('/') + 1)}\n`).join('');
  return createHash('sha256').update(lines).digest('hex');
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
