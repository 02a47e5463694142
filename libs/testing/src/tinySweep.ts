// The tiny sweep that the sweep-engine, trainer and evaluator tests run, as sweep-file text (these
// helpers import no fidlab lib; tests parse it with parseSweepText): one trial per seed of a
// narrow U-Net auto-encoder (sketch2sketch, no GAN, ngf 4, batch 4) on 32 px synthetic faces
// (4 identities x 3, generated at `root` on first use), evaluated with the face-recognition net.

/** evaluate.metrics entries the tests pick from (YAML flow maps). */
export const TINY_SWEEP_METRICS = {
  fid_face: '{ name: fid_face, kind: fid, extractor: facerec }',
  rank_face: '{ name: rank_face, kind: rank-k, extractor: facerec, k: [1, 2] }',
};

export interface TinySweepOptions {
  /** Training epochs (default 2). */
  epochs?: number;
  /** One trial per seed (default [1]). */
  seeds?: number[];
  /** evaluate.metrics entries, YAML flow maps (default fid_face and rank_face). */
  metrics?: string[];
}

/** The sweep file `name`, its data (synthesised on first use) at `root`; selects on fid_face. */
export function tinySweepText(name: string, root: string, opts: TinySweepOptions = {}): string {
  const metrics = opts.metrics ?? Object.values(TINY_SWEEP_METRICS);
  return `name: ${name}
data:
  root: ${root}
  size: 32
  synth: { identities: 4, per_identity: 3, seed: 3 }
parameters:
  seed: { values: [${(opts.seeds ?? [1]).join(', ')}] }
fixed: { model: unet, direction: sketch2sketch, gan_mode: none, epochs: ${opts.epochs ?? 2}, epochs_decay: 0, batch_size: 4, ngf: 4 }
evaluate:
  metrics:
${metrics.map((m) => `    - ${m}`).join('\n')}
select: { metric: fid_face, goal: min }
`;
}
