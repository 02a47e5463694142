import { createRng, type Rng } from '@fidlab/base';
import type { FaceGeometry, FaceVariation } from './faceModel.js';

/** Numbers in SVG text: two decimals, so the text (and the raster) is the same on every run. */
const f = (x: number) => (Math.round(x * 100) / 100).toString();
const rgb = (c: readonly number[], k = 1) =>
  `rgb(${c.map((v) => Math.max(0, Math.min(255, Math.round(v * k)))).join(',')})`;

interface Parts {
  face: string;
  earL: string;
  earR: string;
  eyes: { cx: number; cy: number; rx: number; ry: number }[];
  brows: string[];
  nose: string;
  nostrils: string;
  mouthUpper: string;
  mouthLower: string;
  mouthLine: string;
  hairFront: string;
  hairBack: string | null;
  bun: { cx: number; cy: number; r: number } | null;
  glasses: string | null;
  moustache: string | null;
  neck: string;
  shoulders: string;
}

/** Outlines of every part in face-local coordinates (origin at the face centre). */
function parts(g: FaceGeometry, v: FaceVariation): Parts {
  const { faceW: w, faceH: h } = g;
  const k = 0.55;
  const jw = g.jaw * w;
  const cw = g.chin * w;
  const face =
    `M 0 ${f(-h)} C ${f(k * w)} ${f(-h)} ${f(w)} ${f(-k * h)} ${f(w)} ${f(-0.05 * h)} ` +
    `C ${f(w)} ${f(0.4 * h)} ${f(jw)} ${f(0.8 * h)} ${f(cw)} ${f(h)} ` +
    `C ${f(cw * 0.5)} ${f(1.03 * h)} ${f(-cw * 0.5)} ${f(1.03 * h)} ${f(-cw)} ${f(h)} ` +
    `C ${f(-jw)} ${f(0.8 * h)} ${f(-w)} ${f(0.4 * h)} ${f(-w)} ${f(-0.05 * h)} ` +
    `C ${f(-w)} ${f(-k * h)} ${f(-k * w)} ${f(-h)} 0 ${f(-h)} Z`;
  const ear = (s: number) => {
    const x = s * w * 0.97;
    const y = g.eyeY * h + 0.12 * h;
    return `M ${f(x)} ${f(y - 0.18 * h)} C ${f(x + s * 0.22 * w)} ${f(y - 0.22 * h)} ${f(x + s * 0.2 * w)} ${f(y + 0.15 * h)} ${f(x)} ${f(y + 0.16 * h)} Z`;
  };
  const ex = g.eyeSep * w;
  const ey = g.eyeY * h;
  const erx = g.eyeW * w;
  const ery = erx * g.eyeAspect * v.eyeOpen;
  const yaw = v.yaw;
  const eyes = [-1, 1].map((s) => ({ cx: s * ex + yaw, cy: ey, rx: erx, ry: ery }));
  const brows = [-1, 1].map((s) => {
    const by = ey - g.browGap * h - v.browRaise;
    const x0 = s * (ex - erx * 1.2) + yaw;
    const x1 = s * (ex + erx * 1.25) + yaw;
    const t = g.browThick;
    const outer = by + g.browTilt;
    return (
      `M ${f(x0)} ${f(by)} Q ${f((x0 + x1) / 2)} ${f(by - g.browArch)} ${f(x1)} ${f(outer)} ` +
      `L ${f(x1)} ${f(outer + t * 0.6)} Q ${f((x0 + x1) / 2)} ${f(by - g.browArch + t)} ${f(x0)} ${f(by + t)} Z`
    );
  });
  const nx = yaw * 1.3;
  const ny0 = ey + 0.05 * h;
  const ny1 = ey + g.noseLen * h;
  const nw = g.noseW * w;
  const nose =
    `M ${f(nx - nw * 0.25)} ${f(ny0)} C ${f(nx - nw * 0.3)} ${f((ny0 + ny1) / 2)} ${f(nx - nw)} ${f(ny1 - 4)} ` +
    `${f(nx - nw * 0.6)} ${f(ny1 + 2)} Q ${f(nx)} ${f(ny1 + 6)} ${f(nx + nw * 0.6)} ${f(ny1 + 2)}`;
  const nostrils =
    `M ${f(nx - nw * 0.45)} ${f(ny1)} q ${f(nw * 0.15)} 3 ${f(nw * 0.3)} 0 ` +
    `M ${f(nx + nw * 0.15)} ${f(ny1)} q ${f(nw * 0.15)} 3 ${f(nw * 0.3)} 0`;
  const my = g.mouthY * h;
  const mw = g.mouthW * w;
  const mx = yaw * 1.1;
  const curve = g.mouthCurve + v.smile;
  const l = g.lip;
  const mouthLine = `M ${f(mx - mw)} ${f(my - curve)} Q ${f(mx)} ${f(my + curve)} ${f(mx + mw)} ${f(my - curve)}`;
  const mouthUpper =
    `${mouthLine} Q ${f(mx + mw * 0.4)} ${f(my - l)} ${f(mx)} ${f(my - l * 0.6)} ` +
    `Q ${f(mx - mw * 0.4)} ${f(my - l)} ${f(mx - mw)} ${f(my - curve)} Z`;
  const mouthLower = `${mouthLine} Q ${f(mx)} ${f(my + curve + l * 1.6)} ${f(mx - mw)} ${f(my - curve)} Z`;
  const top = -h - g.hairVolume;
  const side = w + g.hairVolume * 0.6;
  const hl = -g.hairline * h;
  let hairFront: string;
  switch (g.hairStyle) {
    case 2: // side parting: the hairline dips on one side
      hairFront =
        `M ${f(-side)} ${f(0.05 * h)} C ${f(-side * 1.05)} ${f(top * 1.1)} ${f(side * 1.05)} ${f(top * 1.1)} ${f(side)} ${f(0.05 * h)} ` +
        `L ${f(w * 0.92)} ${f(-0.2 * h)} C ${f(w * 0.6)} ${f(hl * 1.1)} ${f(-w * 0.2)} ${f(hl * 0.7)} ${f(-w * 0.35)} ${f(hl * 1.05)} ` +
        `C ${f(-w * 0.6)} ${f(hl * 0.8)} ${f(-w * 0.9)} ${f(-0.3 * h)} ${f(-w * 0.92)} ${f(-0.2 * h)} Z`;
      break;
    case 3: // buzz cut: a thin cap
      hairFront =
        `M ${f(-w * 1.01)} ${f(-0.2 * h)} C ${f(-w * 1.02)} ${f(-h * 1.32)} ${f(w * 1.02)} ${f(-h * 1.32)} ${f(w * 1.01)} ${f(-0.2 * h)} ` +
        `C ${f(w * 0.7)} ${f(hl)} ${f(-w * 0.7)} ${f(hl)} ${f(-w * 1.01)} ${f(-0.2 * h)} Z`;
      break;
    default: // short, long and bun share the front; a fringe line sets the hairline
      hairFront =
        `M ${f(-side)} ${f(0.1 * h)} C ${f(-side * 1.08)} ${f(top * 1.12)} ${f(side * 1.08)} ${f(top * 1.12)} ${f(side)} ${f(0.1 * h)} ` +
        `L ${f(w * 0.93)} ${f(-0.15 * h)} C ${f(w * 0.7)} ${f(hl)} ${f(w * 0.2)} ${f(hl * 0.95)} 0 ${f(hl)} ` +
        `C ${f(-w * 0.2)} ${f(hl * 0.95)} ${f(-w * 0.7)} ${f(hl)} ${f(-w * 0.93)} ${f(-0.15 * h)} Z`;
  }
  const hairBack =
    g.hairStyle === 1
      ? `M ${f(-side * 1.05)} ${f(-0.2 * h)} C ${f(-side * 1.15)} ${f(0.6 * h)} ${f(-side)} ${f(1.3 * h)} ${f(-side * 0.9)} ${f(1.45 * h)} ` +
        `L ${f(side * 0.9)} ${f(1.45 * h)} C ${f(side)} ${f(1.3 * h)} ${f(side * 1.15)} ${f(0.6 * h)} ${f(side * 1.05)} ${f(-0.2 * h)} Z`
      : null;
  const bun = g.hairStyle === 4 ? { cx: 0, cy: top - 0.12 * h, r: 0.3 * w } : null;
  const glasses = g.glasses
    ? eyes
        .map(
          (e) =>
            `M ${f(e.cx - e.rx * 1.5)} ${f(e.cy - e.rx * 0.9)} h ${f(e.rx * 3)} v ${f(e.rx * 1.8)} h ${f(-e.rx * 3)} Z`,
        )
        .join(' ') +
      ` M ${f(eyes[0].cx + erx * 1.5)} ${f(ey - erx * 0.3)} L ${f(eyes[1].cx - erx * 1.5)} ${f(ey - erx * 0.3)}`
    : null;
  const moustache = g.moustache
    ? `M ${f(mx - mw * 1.05)} ${f(my - curve - 2)} Q ${f(mx)} ${f(my - l - 12)} ${f(mx + mw * 1.05)} ${f(my - curve - 2)} ` +
      `Q ${f(mx)} ${f(my - l - 3)} ${f(mx - mw * 1.05)} ${f(my - curve - 2)} Z`
    : null;
  const neck = `M ${f(-w * 0.45)} ${f(0.6 * h)} L ${f(-w * 0.5)} ${f(1.5 * h)} L ${f(w * 0.5)} ${f(1.5 * h)} L ${f(w * 0.45)} ${f(0.6 * h)} Z`;
  const shoulders = `M ${f(-w * 2.4)} 200 C ${f(-w * 2.2)} ${f(1.25 * h)} ${f(-w)} ${f(1.15 * h)} 0 ${f(1.2 * h)} C ${f(w)} ${f(1.15 * h)} ${f(w * 2.2)} ${f(1.25 * h)} ${f(w * 2.4)} 200 Z`;
  return {
    face,
    earL: ear(-1),
    earR: ear(1),
    eyes,
    brows,
    nose,
    nostrils,
    mouthUpper,
    mouthLower,
    mouthLine,
    hairFront,
    hairBack,
    bun,
    glasses,
    moustache,
    neck,
    shoulders,
  };
}

function frame(v: FaceVariation, size: number, body: string, defs: string): string {
  const t = `translate(${f(128 + v.dx)} ${f(138 + v.dy)}) rotate(${f(v.rotate)}) scale(${f(v.scale)})`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 256 256">` +
    `<defs>${defs}</defs>${body.replace('__T__', t)}</svg>`
  );
}

/** The "photo": a shaded colour rendering of the face. */
export function photoSvg(g: FaceGeometry, v: FaceVariation, size: number): string {
  const p = parts(g, v);
  const skin = g.skin;
  const lit = 1 + v.lightStrength * 0.5;
  const shade = 1 - v.lightStrength;
  const cx = 0.5 + 0.3 * v.light;
  const defs =
    `<linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${rgb(v.background, 1.05)}"/>` +
    `<stop offset="1" stop-color="${rgb(v.background, 0.85)}"/></linearGradient>` +
    `<radialGradient id="skin" cx="${f(cx)}" cy="0.4" r="0.8"><stop offset="0" stop-color="${rgb(skin, lit)}"/>` +
    `<stop offset="0.55" stop-color="${rgb(skin)}"/><stop offset="1" stop-color="${rgb(skin, shade)}"/></radialGradient>` +
    `<radialGradient id="hair" cx="${f(cx)}" cy="0.3" r="0.8"><stop offset="0" stop-color="${rgb(g.hair, 1.25)}"/>` +
    `<stop offset="1" stop-color="${rgb(g.hair, 0.8)}"/></radialGradient>`;
  const hair = 'url(#hair)';
  const body =
    `<rect width="256" height="256" fill="url(#bg)"/><g transform="__T__">` +
    (p.hairBack ? `<path d="${p.hairBack}" fill="${hair}"/>` : '') +
    `<path d="${p.neck}" fill="${rgb(skin, shade * 0.95)}"/>` +
    `<path d="${p.shoulders}" fill="${rgb(g.clothes)}"/>` +
    `<path d="${p.earL}" fill="${rgb(skin, 0.92)}"/><path d="${p.earR}" fill="${rgb(skin, 0.92)}"/>` +
    `<path d="${p.face}" fill="url(#skin)"/>` +
    p.eyes
      .map(
        (e) =>
          `<ellipse cx="${f(e.cx)}" cy="${f(e.cy)}" rx="${f(e.rx)}" ry="${f(e.ry)}" fill="rgb(245,245,240)"/>` +
          `<circle cx="${f(e.cx)}" cy="${f(e.cy)}" r="${f(Math.min(e.ry, e.rx * 0.45))}" fill="${rgb(g.iris)}"/>` +
          `<circle cx="${f(e.cx)}" cy="${f(e.cy)}" r="${f(Math.min(e.ry, e.rx * 0.45) * 0.45)}" fill="rgb(15,10,10)"/>` +
          `<path d="M ${f(e.cx - e.rx)} ${f(e.cy)} Q ${f(e.cx)} ${f(e.cy - e.ry * 2)} ${f(e.cx + e.rx)} ${f(e.cy)}" ` +
          `fill="none" stroke="rgb(40,30,25)" stroke-width="1.6"/>`,
      )
      .join('') +
    p.brows.map((b) => `<path d="${b}" fill="${rgb(g.hair, 0.9)}"/>`).join('') +
    `<path d="${p.nose}" fill="none" stroke="${rgb(skin, 0.7)}" stroke-width="1.8"/>` +
    `<path d="${p.nostrils}" fill="none" stroke="${rgb(skin, 0.5)}" stroke-width="1.6"/>` +
    `<path d="${p.mouthUpper}" fill="${rgb([skin[0] * 0.8 + 40, skin[1] * 0.55, skin[2] * 0.55])}"/>` +
    `<path d="${p.mouthLower}" fill="${rgb([skin[0] * 0.85 + 40, skin[1] * 0.6, skin[2] * 0.6])}"/>` +
    `<path d="${p.mouthLine}" fill="none" stroke="rgb(90,40,40)" stroke-width="1.2"/>` +
    (p.moustache ? `<path d="${p.moustache}" fill="${hair}"/>` : '') +
    `<path d="${p.hairFront}" fill="${hair}"/>` +
    (p.bun
      ? `<circle cx="${f(p.bun.cx)}" cy="${f(p.bun.cy)}" r="${f(p.bun.r)}" fill="${hair}"/>`
      : '') +
    (p.glasses
      ? `<path d="${p.glasses}" fill="none" stroke="rgb(30,30,30)" stroke-width="2"/>`
      : '') +
    `</g>`;
  return frame(v, size, body, defs);
}

/** A path drawn as a few pencil strokes, each a little off the true line. */
function pencil(rng: Rng, d: string, width: number, grey: number, passes = 2): string {
  let out = '';
  for (let i = 0; i < passes; i++) {
    const dx = (rng.next() - 0.5) * 1.6;
    const dy = (rng.next() - 0.5) * 1.6;
    const o = 0.45 + 0.35 * rng.next();
    out +=
      `<path d="${d}" transform="translate(${f(dx)} ${f(dy)})" fill="none" stroke="rgb(${grey},${grey},${grey})" ` +
      `stroke-opacity="${f(o)}" stroke-width="${f(width * (0.8 + 0.4 * rng.next()))}" stroke-linecap="round"/>`;
  }
  return out;
}

/** The "sketch": a grayscale pencil-style line drawing of the same face (rendered in grey). */
export function sketchSvg(g: FaceGeometry, v: FaceVariation, size: number): string {
  const p = parts(g, v);
  const rng = createRng(v.strokeSeed);
  const paper = 236 + Math.round(rng.next() * 12);
  const hairTone = Math.round(40 + (g.hair[0] + g.hair[1] + g.hair[2]) / 6);
  const skinTone = (g.skin[0] + g.skin[1] + g.skin[2]) / 3;
  const shadeOpacity = f(0.12 + (230 - skinTone) / 600);
  const hatch = (id: string, angle: number, gap: number, grey: number, width: number) =>
    `<pattern id="${id}" width="${gap}" height="${gap}" patternUnits="userSpaceOnUse" patternTransform="rotate(${f(angle)})">` +
    `<line x1="0" y1="0" x2="0" y2="${gap}" stroke="rgb(${grey},${grey},${grey})" stroke-width="${width}"/></pattern>`;
  const defs =
    hatch('hh', g.hatchAngle, 3, hairTone, 1.4) +
    hatch('sh', -35, 4, 90, 0.9) +
    `<clipPath id="fc"><path d="${p.face}"/></clipPath>`;
  const hairFill = (d: string) =>
    `<path d="${d}" fill="url(#hh)" fill-opacity="0.9"/>` + pencil(rng, d, 1.3, hairTone - 20);
  const shadowX = -v.light * g.faceW * 0.9;
  const body =
    `<rect width="256" height="256" fill="rgb(${paper},${paper},${paper})"/><g transform="__T__">` +
    (p.hairBack ? hairFill(p.hairBack) : '') +
    pencil(rng, p.neck, 1, 80) +
    `<path d="${p.shoulders}" fill="rgb(${paper},${paper},${paper})"/>` +
    pencil(rng, p.shoulders, 1.2, 70) +
    `<path d="${p.face}" fill="rgb(${paper},${paper},${paper})"/>` +
    `<g clip-path="url(#fc)"><ellipse cx="${f(shadowX)}" cy="0" rx="${f(g.faceW * 0.7)}" ry="${f(g.faceH * 1.1)}" ` +
    `fill="url(#sh)" fill-opacity="${shadeOpacity}"/></g>` +
    pencil(rng, p.earL, 1.1, 70) +
    pencil(rng, p.earR, 1.1, 70) +
    pencil(rng, p.face, 1.4, 50, 3) +
    p.eyes
      .map(
        (e) =>
          pencil(
            rng,
            `M ${f(e.cx - e.rx)} ${f(e.cy)} Q ${f(e.cx)} ${f(e.cy - e.ry * 2)} ${f(e.cx + e.rx)} ${f(e.cy)}`,
            1.8,
            30,
          ) +
          pencil(
            rng,
            `M ${f(e.cx - e.rx)} ${f(e.cy)} Q ${f(e.cx)} ${f(e.cy + e.ry * 1.6)} ${f(e.cx + e.rx)} ${f(e.cy)}`,
            1,
            90,
          ) +
          `<circle cx="${f(e.cx)}" cy="${f(e.cy)}" r="${f(Math.min(e.ry, e.rx * 0.45))}" fill="rgb(45,45,45)"/>` +
          `<circle cx="${f(e.cx + 1)}" cy="${f(e.cy - 1)}" r="1" fill="rgb(${paper},${paper},${paper})"/>`,
      )
      .join('') +
    p.brows
      .map((b) => `<path d="${b}" fill="url(#hh)"/>` + pencil(rng, b, 0.9, hairTone))
      .join('') +
    pencil(rng, p.nose, 1.2, 80) +
    pencil(rng, p.nostrils, 1.3, 60) +
    `<path d="${p.mouthUpper}" fill="rgb(150,150,150)" fill-opacity="0.5"/>` +
    `<path d="${p.mouthLower}" fill="rgb(175,175,175)" fill-opacity="0.5"/>` +
    pencil(rng, p.mouthLine, 1.6, 40) +
    pencil(rng, p.mouthLower, 0.9, 100) +
    (p.moustache ? hairFill(p.moustache) : '') +
    hairFill(p.hairFront) +
    (p.bun
      ? hairFill(
          `M ${f(p.bun.cx - p.bun.r)} ${f(p.bun.cy)} a ${f(p.bun.r)} ${f(p.bun.r)} 0 1 0 ${f(2 * p.bun.r)} 0 a ${f(p.bun.r)} ${f(p.bun.r)} 0 1 0 ${f(-2 * p.bun.r)} 0 Z`,
        )
      : '') +
    (p.glasses ? pencil(rng, p.glasses, 1.6, 40) : '') +
    `</g>`;
  return frame(v, size, body, defs);
}
