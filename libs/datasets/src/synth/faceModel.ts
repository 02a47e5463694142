import { createRng, type Rng } from '@fidlab/base';
import { mixSeed } from '../augment.js';

/**
 * The face of one synthetic identity, in a 256 x 256 canvas with the face centred near
 * (128, 138). Everything an identity keeps across its images lives here.
 */
export interface FaceGeometry {
  /** Half width and half height of the face oval. */
  faceW: number;
  faceH: number;
  /** Jaw width at the cheeks and chin width, as fractions of faceW. */
  jaw: number;
  chin: number;
  /** Eye centres at x = +-eyeSep * faceW, y = eyeY * faceH; eye half width and height/width. */
  eyeSep: number;
  eyeY: number;
  eyeW: number;
  eyeAspect: number;
  /** Brow gap above the eye, thickness, arch and outer tilt. */
  browGap: number;
  browThick: number;
  browArch: number;
  browTilt: number;
  /** Nose length (fraction of faceH below the eyes) and half width. */
  noseLen: number;
  noseW: number;
  /** Mouth height (fraction of faceH), half width, lip thickness, resting curvature. */
  mouthY: number;
  mouthW: number;
  lip: number;
  mouthCurve: number;
  /** 0 short, 1 long, 2 side parting, 3 buzz cut, 4 bun. */
  hairStyle: number;
  /** Hairline height as a fraction of faceH above the centre. */
  hairline: number;
  /** How far the hair volume stands off the head. */
  hairVolume: number;
  glasses: boolean;
  moustache: boolean;
  skin: [number, number, number];
  hair: [number, number, number];
  iris: [number, number, number];
  clothes: [number, number, number];
  /** Angle of the pencil hatching of the hair in the sketch. */
  hatchAngle: number;
}

/** What changes between images of one identity: pose, expression, lighting. */
export interface FaceVariation {
  dx: number;
  dy: number;
  rotate: number;
  scale: number;
  /** Head turn: features shift sideways by this many units. */
  yaw: number;
  smile: number;
  browRaise: number;
  eyeOpen: number;
  /** Light from this side (-1 left .. 1 right) with this strength (photo only). */
  light: number;
  lightStrength: number;
  background: [number, number, number];
  /** Seed for the pencil jitter of the sketch. */
  strokeSeed: number;
}

const SKIN: [number, number, number][] = [
  [241, 201, 165],
  [224, 172, 135],
  [198, 142, 101],
  [161, 105, 74],
  [124, 74, 51],
  [245, 213, 192],
];
const HAIR: [number, number, number][] = [
  [27, 20, 16],
  [59, 38, 24],
  [107, 74, 43],
  [168, 119, 63],
  [214, 179, 112],
  [138, 138, 138],
];
const IRIS: [number, number, number][] = [
  [70, 45, 25],
  [40, 90, 140],
  [70, 110, 60],
  [30, 25, 20],
];

const between = (rng: Rng, lo: number, hi: number) => lo + (hi - lo) * rng.next();
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
const jitter = (rng: Rng, c: [number, number, number], d: number): [number, number, number] =>
  c.map((v) => Math.max(0, Math.min(255, Math.round(v + between(rng, -d, d))))) as [
    number,
    number,
    number,
  ];

/** The geometry of identity `id` under `seed`. */
export function faceGeometry(seed: number, id: number): FaceGeometry {
  const rng = createRng(mixSeed(seed, id, 0xface));
  const faceW = between(rng, 50, 66);
  return {
    faceW,
    faceH: faceW * between(rng, 1.2, 1.45),
    jaw: between(rng, 0.62, 0.95),
    chin: between(rng, 0.12, 0.42),
    eyeSep: between(rng, 0.34, 0.5),
    eyeY: between(rng, -0.15, 0.02),
    eyeW: between(rng, 0.13, 0.21),
    eyeAspect: between(rng, 0.35, 0.6),
    browGap: between(rng, 0.14, 0.28),
    browThick: between(rng, 2, 6.5),
    browArch: between(rng, 0, 6),
    browTilt: between(rng, -5, 5),
    noseLen: between(rng, 0.28, 0.45),
    noseW: between(rng, 0.13, 0.27),
    mouthY: between(rng, 0.5, 0.66),
    mouthW: between(rng, 0.26, 0.45),
    lip: between(rng, 2, 7),
    mouthCurve: between(rng, -3, 4),
    hairStyle: rng.int(5),
    hairline: between(rng, 0.45, 0.75),
    hairVolume: between(rng, 4, 16),
    glasses: rng.next() < 0.2,
    moustache: rng.next() < 0.15,
    skin: jitter(rng, pick(rng, SKIN), 10),
    hair: jitter(rng, pick(rng, HAIR), 12),
    iris: jitter(rng, pick(rng, IRIS), 15),
    clothes: jitter(rng, [between(rng, 30, 220), between(rng, 30, 220), between(rng, 30, 220)], 0),
    hatchAngle: between(rng, 20, 70),
  };
}

/** Image `k` of identity `id`: a little pose, expression and lighting change. */
export function faceVariation(seed: number, id: number, k: number): FaceVariation {
  const rng = createRng(mixSeed(seed, id, k, 0xa1));
  const grey = between(rng, 150, 235);
  return {
    dx: between(rng, -7, 7),
    dy: between(rng, -6, 6),
    rotate: between(rng, -6, 6),
    scale: between(rng, 0.94, 1.06),
    yaw: between(rng, -5, 5),
    smile: between(rng, -2, 6),
    browRaise: between(rng, 0, 4),
    eyeOpen: between(rng, 0.75, 1.1),
    light: between(rng, -1, 1),
    lightStrength: between(rng, 0.15, 0.45),
    background: [
      grey + between(rng, -20, 5),
      grey + between(rng, -10, 5),
      grey + between(rng, -5, 20),
    ].map((v) => Math.round(Math.max(0, Math.min(255, v)))) as [number, number, number],
    strokeSeed: mixSeed(seed, id, k, 0x5c),
  };
}
