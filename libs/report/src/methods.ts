// The report's definitions in words, printed in the report itself (the code is in analysis.ts).

export const JUMP_RULE =
  'Jumps (red triangles): a step between two consecutive evaluated epochs of a run is a jump when the metric moves by more than its own uncertainty. ' +
  'When both epochs have a 95% bootstrap CI: each value lies outside the other epoch\u2019s interval (for symmetric intervals, |Δ| > the larger of the two half-widths); score = |Δ| / that half-width. ' +
  'Without CIs (KID, rank-k, FID without bootstrap): the step\u2019s robust z-score among all steps of that metric in the sweep, z = (Δ − median) / (1.4826 MAD) (mean absolute deviation × 1.2533 when MAD = 0), is above 3.5; needs at least 4 steps.';

export const SEPARATION_RULE =
  'Separation S (scale-free, so layers of very different magnitude compare): for each run, take its last third of evaluated epochs (at least 2 when it has 2); ' +
  'mean_r is the run\u2019s mean there, and w_r = the variance of its values there (epoch-to-epoch fluctuation) + the mean squared standard error of its 95% bootstrap CIs, ((hi − lo) / 3.92)², the noise of one reading. ' +
  'S = sample variance of mean_r over runs / mean of w_r: S > 1 means the runs (generators) differ by more than a reading\u2019s noise; higher separates better. ' +
  'A pair of runs counts as separated when |mean_r − mean_s| > 1.96 √(w_r + w_s).';
