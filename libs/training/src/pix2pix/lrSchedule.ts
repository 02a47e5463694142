/**
 * pix2pix's `linear` policy: the learning-rate factor in (1-based) epoch e is
 *   1 - max(0, e - epochs) / (epochsDecay + 1),
 * i.e. 1 for the first `epochs` epochs, then falling linearly towards 0 (1 / (epochsDecay + 1)
 * in the last epoch). (`lambda_rule` with epoch_count = 1, scheduler stepped before each epoch.)
 */
export function lrFactor(epoch: number, epochs: number, epochsDecay: number): number {
  return 1 - Math.max(0, epoch - epochs) / (epochsDecay + 1);
}
