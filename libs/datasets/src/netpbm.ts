// Netpbm (PBM P1/P4, PGM P2/P5, PPM P3/P6) decoded as PIL reads it, since sharp's libvips build
// has no loader for it. No npm package fits (the few that exist are unmaintained or pull in a
// whole image framework) and the format is a text header plus samples, so it is parsed here.
import { ErrorCode, FidlabError } from '@fidlab/base';

/** Decoded pixels: 8-bit samples, HWC, 1 (gray) or 3 (RGB) channels. */
export interface RawPixels {
  data: Uint8Array; // [height, width, channels]
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Whether the bytes start like a Netpbm file: "P1".."P6" then whitespace. */
export function isNetpbm(file: Uint8Array): boolean {
  return (
    file.length > 2 && file[0] === 0x50 && file[1] >= 0x31 && file[1] <= 0x36 && isSpace(file[2])
  );
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

export interface NetpbmHeader {
  kind: 1 | 2 | 3 | 4 | 5 | 6;
  width: number;
  height: number;
  /** 1 for bitmaps. */
  maxval: number;
  /** Offset of the first sample byte (raw formats) or of the first sample token (plain). */
  dataOffset: number;
}

/** Reads the header; `path` names the file in errors. */
export function netpbmHeader(file: Uint8Array, path: string): NetpbmHeader {
  const bad = (why: string) =>
    new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${path} is not a valid Netpbm file: ${why}`);
  if (!isNetpbm(file)) throw bad('no P1-P6 magic number');
  const kind = (file[1] - 0x30) as NetpbmHeader['kind'];
  let pos = 2;
  const token = (what: string): number => {
    for (;;) {
      while (pos < file.length && isSpace(file[pos])) pos++;
      if (file[pos] !== 0x23) break; // '#': a comment to the end of the line
      while (pos < file.length && file[pos] !== 0x0a && file[pos] !== 0x0d) pos++;
    }
    const start = pos;
    while (pos < file.length && file[pos] >= 0x30 && file[pos] <= 0x39) pos++;
    if (pos === start || pos - start > 9) throw bad(`${what} missing or not a number`);
    return Number(new TextDecoder().decode(file.subarray(start, pos)));
  };
  const width = token('width');
  const height = token('height');
  if (width < 1 || height < 1) throw bad(`size ${width} x ${height}`);
  const bitmap = kind === 1 || kind === 4;
  const maxval = bitmap ? 1 : token('maxval');
  // PIL's bound (PpmImagePlugin): 0 < maxval < 65536.
  if (maxval < 1 || maxval > 65535) throw bad(`maxval ${maxval} is not in 1..65535`);
  // Raw formats: exactly one whitespace byte ends the header.
  if (kind >= 4) {
    if (!isSpace(file[pos] ?? 0)) throw bad('no whitespace after the header');
    pos++;
  }
  return { kind, width, height, maxval, dataOffset: pos };
}

/** Python's round(): to the nearest integer, halves to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/**
 * Decodes a Netpbm file to 8-bit samples exactly as PIL 9 `Image.open(path).convert('RGB')`
 * does (pytorch-fid's reader), one channel for PBM/PGM: bitmaps give 0 for 1 (black) and 255 for
 * 0; samples with maxval != 255 become round(v / maxval * 255), halves to even, as
 * PpmImagePlugin computes them.
 * Deviation from what one might expect (kept to match PIL): a PGM with maxval > 255 is PIL mode
 * "I" scaled to 0..65535, which convert('RGB') clips at 255, so 16-bit gray comes out nearly
 * white; 16-bit PPMs are scaled to 0..255.
 */
export function decodeNetpbm(file: Uint8Array, path: string): RawPixels {
  const h = netpbmHeader(file, path);
  const { kind, width, height, maxval } = h;
  const channels: 1 | 3 = kind === 3 || kind === 6 ? 3 : 1;
  const count = width * height * channels;
  const out = new Uint8Array(count);
  const short = (got: number) =>
    new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path} is corrupt or truncated (${got} of ${count} samples of a ${width} x ${height} Netpbm image)`,
    );
  const gray16 = channels === 1 && maxval > 255;
  const outMax = gray16 ? 65535 : 255;
  const scale = (v: number) =>
    maxval === 255 ? v : Math.min(255, Math.min(outMax, roundHalfEven((v / maxval) * outMax)));

  if (kind === 4) {
    const rowBytes = Math.ceil(width / 8);
    if (file.length < h.dataOffset + rowBytes * height) throw short(0);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const bit = (file[h.dataOffset + y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1;
        out[y * width + x] = bit ? 0 : 255;
      }
    return { data: out, width, height, channels };
  }
  if (kind === 5 || kind === 6) {
    const bytes = maxval < 256 ? 1 : 2;
    const available = Math.floor((file.length - h.dataOffset) / bytes);
    if (available < count) throw short(available);
    for (let i = 0; i < count; i++) {
      const p = h.dataOffset + i * bytes;
      out[i] = scale(bytes === 1 ? file[p] : (file[p] << 8) | file[p + 1]);
    }
    return { data: out, width, height, channels };
  }
  // Plain (ASCII) formats: whitespace-separated decimal samples, comments allowed; P1 digits
  // need no separators.
  let pos = h.dataOffset;
  let i = 0;
  while (i < count && pos < file.length) {
    const c = file[pos];
    if (isSpace(c)) {
      pos++;
    } else if (c === 0x23) {
      while (pos < file.length && file[pos] !== 0x0a && file[pos] !== 0x0d) pos++;
    } else if (kind === 1) {
      if (c !== 0x30 && c !== 0x31)
        throw new FidlabError(
          ErrorCode.BAD_FILE_FORMAT,
          `${path}: bad PBM sample '${String.fromCharCode(c)}'`,
        );
      out[i++] = c === 0x31 ? 0 : 255;
      pos++;
    } else {
      const start = pos;
      while (pos < file.length && file[pos] >= 0x30 && file[pos] <= 0x39) pos++;
      if (pos === start || pos - start > 10) {
        throw new FidlabError(
          ErrorCode.BAD_FILE_FORMAT,
          `${path}: sample ${i + 1} is not a number`,
        );
      }
      const v = Number(new TextDecoder().decode(file.subarray(start, pos)));
      if (v > maxval) {
        throw new FidlabError(
          ErrorCode.BAD_FILE_FORMAT,
          `${path}: sample ${i + 1} is ${v}, above maxval ${maxval}`,
        );
      }
      out[i++] = scale(v);
    }
  }
  if (i < count) throw short(i);
  return { data: out, width, height, channels };
}
