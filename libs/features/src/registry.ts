// The extractor registry: names are part of the CLI and of sweep files. A name is
// '<prefix>[:<arg>]'; the family with that prefix parses the argument.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { ExtractorFamily, FeatureExtractor } from './extractor.js';
import { inceptionFamily, vggFaceFamily } from './families.js';
import { facerecFamily } from './facerec.js';
import { generatorFamily } from './generatorTap.js';
import { identityFamily } from './identityExtractor.js';

/** Every family, in the order `knownExtractors()` lists them. Other helpers add theirs here. */
const FAMILIES: ExtractorFamily[] = [
  inceptionFamily,
  vggFaceFamily,
  facerecFamily,
  generatorFamily,
  identityFamily,
];

/** Other spellings of a canonical name. */
const ALIASES: Record<string, string> = { 'inception-pool3': 'inception:2048' };

export function knownExtractors(): string[] {
  return [...FAMILIES.flatMap((f) => f.names), ...Object.keys(ALIASES)];
}

/**
 * Builds the named extractor; `opts.weights` overrides the default weights file. The tfjs
 * backend is whatever the caller selected (apps call `selectBackend` first).
 */
export async function createExtractor(
  name: string,
  opts: { weights?: string } = {},
): Promise<FeatureExtractor> {
  const canonical = ALIASES[name] ?? name;
  const colon = canonical.indexOf(':');
  const prefix = colon < 0 ? canonical : canonical.slice(0, colon);
  const arg = colon < 0 ? undefined : canonical.slice(colon + 1);
  const family = FAMILIES.find((f) => f.prefix === prefix);
  if (!family) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `unknown feature extractor '${name}'; known: ${knownExtractors().join(', ')}`,
    );
  }
  return family.create(arg, opts);
}
