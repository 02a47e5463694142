import { readFile } from 'node:fs/promises';
import { decode as decodeBmp } from 'bmp-ts';
import sharp from 'sharp';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { decodeNetpbm, isNetpbm, netpbmHeader, type RawPixels } from './netpbm.js';
import { resizeFloat, type ResizeMode } from './resize.js';

/** 8-bit RGB pixels, HWC. */
export interface RgbImage {
  data: Uint8Array; // [height, width, 3]
  width: number;
  height: number;
  /** Channels in the file before conversion (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
  channels: number;
}

/** Float RGB pixels in [0, 1], HWC. */
export interface FloatImage {
  data: Float32Array; // [height, width, 3]
  width: number;
  height: number;
}

/** sharp's default pixel limit (0x3FFF * 0x3FFF); larger images are refused, not decoded. */
export const DEFAULT_MAX_PIXELS = 268402689;

export interface DecodeOptions {
  /** Refuse images with more pixels than this (sharp's `limitInputPixels`). */
  maxPixels?: number;
}

function tooLarge(path: string, width: number, height: number, maxPixels: number): FidlabError {
  return new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${path} is too large: ${width} x ${height} = ${width * height} pixels exceeds the ` +
      `pixel limit of ${maxPixels}`,
  );
}

const isBmp = (file: Buffer) => file.length > 26 && file[0] === 0x42 && file[1] === 0x4d; // "BM"

/**
 * The pixels of a file in a format that PIL (pytorch-fid's reader) opens but sharp's libvips
 * build does not: BMP (decoded by bmp-ts: 1/4/8-bit palettes with RLE, 16/24/32-bit) and
 * Netpbm PBM/PGM/PPM (netpbm.ts). null for every other file: sharp reads those. The size in the
 * header is checked against `maxPixels` before anything is decoded.
 */
export function decodeOtherFormat(file: Buffer, path: string, maxPixels: number): RawPixels | null {
  if (isNetpbm(file)) {
    const { width, height } = netpbmHeader(file, path);
    if (width * height > maxPixels) throw tooLarge(path, width, height, maxPixels);
    return decodeNetpbm(file, path);
  }
  if (!isBmp(file)) return null;
  const width = file.readUInt32LE(18);
  const height = Math.abs(file.readInt32LE(22));
  if (width * height > maxPixels) throw tooLarge(path, width, height, maxPixels);
  // bmp-ts's default layout, A B G R per pixel, is the one it writes for every bit depth (its
  // toRGBA option is not applied to palette images).
  let abgr: Buffer;
  try {
    abgr = decodeBmp(file).data;
  } catch (e) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path} is corrupt or truncated (BMP: ${(e as Error).message})`,
      { cause: e },
    );
  }
  if (width === 0 || height === 0 || abgr.length < width * height * 4) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path} is corrupt or truncated (BMP of ${width} x ${height} pixels)`,
    );
  }
  // Alpha is dropped, as PIL convert('RGB') drops it.
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, n = width * height; i < n; i++) {
    data[3 * i] = abgr[4 * i + 3];
    data[3 * i + 1] = abgr[4 * i + 2];
    data[3 * i + 2] = abgr[4 * i + 1];
  }
  return { data, width, height, channels: 3 };
}

/** A sharp pipeline over raw pixels decoded by `decodeOtherFormat`. */
function sharpOfRaw(raw: RawPixels): sharp.Sharp {
  const { data, width, height, channels } = raw;
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.length), {
    raw: { width, height, channels },
  });
}

/** Turns a sharp failure into a FidlabError that names the file and the reason. */
async function decodeError(
  path: string,
  file: Buffer,
  e: unknown,
  maxPixels: number,
): Promise<FidlabError> {
  if (e instanceof FidlabError) return e;
  const msg = (e as Error).message ?? String(e);
  if (/pixel limit/i.test(msg)) {
    // The header is read again without the limit, so the message can give the image's size.
    const { width = 0, height = 0 } = await sharp(file, { limitInputPixels: false })
      .metadata()
      .catch(() => ({ width: 0, height: 0 }));
    return new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${path} is too large: ${width} x ${height} = ${width * height} pixels exceeds the ` +
        `pixel limit of ${maxPixels}`,
      { cause: e },
    );
  }
  if (/unsupported image format/i.test(msg)) {
    return new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${path} is not a readable image`, {
      cause: e,
    });
  }
  return new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${path} is corrupt or truncated (${msg})`, {
    cause: e,
  });
}

async function readImageFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new FidlabError(
      ErrorCode.FILE_NOT_FOUND,
      `${path} cannot be read: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/**
 * Decodes an image file to 8-bit RGB, as PIL `convert('RGB')` does: gray is repeated into three
 * channels, alpha is dropped (not composited). EXIF orientation is not applied (PIL does not).
 */
export async function decodeImage(path: string, options: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const file = await readImageFile(path);
  try {
    const raw = decodeOtherFormat(file, path, maxPixels);
    // failOn 'error': truncated files fail instead of decoding as a partly grey image.
    const img = raw
      ? sharpOfRaw(raw)
      : sharp(file, { limitInputPixels: maxPixels, failOn: 'error' });
    const meta = raw ? { channels: raw.channels } : await img.metadata();
    const { data, info } = await img
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: meta.channels ?? info.channels,
    };
  } catch (e) {
    throw await decodeError(path, file, e, maxPixels);
  }
}

/** 8-bit pixels as decoded: gray stays one channel (`decodeImage` expands it to RGB). */
export interface Pixels8 {
  data: Uint8Array; // [height, width, channels]
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Whether an encoded image is gray and whether its samples have at most 8 bits. */
export interface PixelFormat {
  gray: boolean;
  eightBit: boolean;
}

/**
 * The pixel format of an encoded image: read from a PNG's IHDR chunk directly (bit depth at byte
 * 24, colour type at 25: 0 gray, 4 gray + alpha), from sharp's metadata for other formats.
 */
export async function pixelFormat(file: Buffer): Promise<PixelFormat> {
  const png =
    file.length > 26 && file.readUInt32BE(0) === 0x89504e47 && file.readUInt32BE(12) === 0x49484452;
  if (png) return { gray: file[25] === 0 || file[25] === 4, eightBit: file[24] <= 8 };
  const meta = await sharp(file).metadata();
  return {
    gray: meta.space === 'b-w' || (meta.channels ?? 3) <= 2,
    eightBit: meta.depth === 'uchar' || meta.depth === 'char',
  };
}

/**
 * Decodes a file to 8-bit gray or RGB without expanding gray (alpha dropped; other colour spaces
 * become sRGB). Returns null for files with more than 8 bits per sample (16-bit PNG, for
 * example), where resizing before the cast to 8 bits gives other values: callers then use
 * `resizeCropVips8`.
 */
export async function decodePixels8(
  path: string,
  options: DecodeOptions = {},
): Promise<Pixels8 | null> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const file = await readImageFile(path);
  try {
    const raw = decodeOtherFormat(file, path, maxPixels);
    const fmt = raw ? { gray: raw.channels === 1, eightBit: true } : await pixelFormat(file);
    if (!fmt.eightBit) return null;
    const img = raw
      ? sharpOfRaw(raw)
      : sharp(file, { limitInputPixels: maxPixels, failOn: 'error' });
    const { data, info } = await img
      .removeAlpha()
      .toColourspace(fmt.gray ? 'b-w' : 'srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) return null;
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: info.channels,
    };
  } catch (e) {
    throw await decodeError(path, file, e, maxPixels);
  }
}

/** Where `resizeCropVips` reads pixels: an image file, or an already decoded image. */
export type VipsSource = { path: string } | { image: RgbImage };

/** 8-bit pixels of a `resizeCropVips8` result: 3 channels (RGB), or 1 (gray, same in R, G, B). */
export interface Crop8 {
  data: Uint8Array; // [size, size, channels]
  channels: 1 | 3;
}

/**
 * The `vips-bicubic` path in one sharp pipeline: decode, resize to `target` x `target` (libvips
 * cubic = Catmull-Rom, 8-bit), take the `size` crop at (x, y), mirror if `flip`. Gray files come
 * back as one channel (libvips resizes them as one band either way and b-w -> sRGB only copies
 * the band, so callers expand them to the same bytes); everything else becomes sRGB as PIL
 * `convert('RGB')` does. All the pixel work runs in sharp's thread pool.
 */
export async function resizeCropVips8(
  src: VipsSource,
  target: number,
  crop: { x: number; y: number; flip: boolean },
  size: number,
  options: DecodeOptions = {},
): Promise<Crop8> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const file = 'path' in src ? await readImageFile(src.path) : null;
  try {
    let s: sharp.Sharp;
    if ('image' in src) {
      const { data, width, height } = src.image;
      s = sharp(data, { raw: { width, height, channels: 3 } });
    } else {
      // Gray stays one band to the end (b-w); every other colour space becomes sRGB.
      const raw = decodeOtherFormat(file!, src.path, maxPixels);
      const { gray } = raw ? { gray: raw.channels === 1 } : await pixelFormat(file!);
      s = (raw ? sharpOfRaw(raw) : sharp(file!, { limitInputPixels: maxPixels, failOn: 'error' }))
        .removeAlpha()
        .toColourspace(gray ? 'b-w' : 'srgb');
    }
    s = s.resize(target, target, { kernel: 'cubic', fit: 'fill' });
    // sharp mirrors (flop) before it extracts, whatever the call order: mirrored, the crop at x
    // starts at target - size - x.
    if (crop.flip) s = s.flop();
    if (target !== size || crop.x !== 0 || crop.y !== 0) {
      const left = crop.flip ? target - size - crop.x : crop.x;
      s = s.extract({ left, top: crop.y, width: size, height: size });
    }
    const { data, info } = await s.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) {
      throw new Error(`unexpected ${info.channels} channels after RGB conversion`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      channels: info.channels,
    };
  } catch (e) {
    if ('image' in src) throw e;
    throw await decodeError(src.path, file!, e, maxPixels);
  }
}

/** `resizeCropVips8` as 8-bit RGB [size, size, 3] (gray expanded). */
export async function resizeCropVips(
  src: VipsSource,
  target: number,
  crop: { x: number; y: number; flip: boolean },
  size: number,
  options: DecodeOptions = {},
): Promise<Uint8Array> {
  const c = await resizeCropVips8(src, target, crop, size, options);
  if (c.channels === 3) return c.data;
  const rgb = new Uint8Array(c.data.length * 3);
  for (let i = 0; i < c.data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = c.data[i];
  return rgb;
}

/** Columns [x0, x0 + w) of an RGB image (the A or B half of a pix2pix AB image). */
export function cropColumns(img: RgbImage, x0: number, w: number): RgbImage {
  const out = new Uint8Array(img.height * w * 3);
  for (let y = 0; y < img.height; y++) {
    const s = (y * img.width + x0) * 3;
    out.set(img.data.subarray(s, s + w * 3), y * w * 3);
  }
  return { data: out, width: w, height: img.height, channels: img.channels };
}

/** Resizes 8-bit RGB to `width` x `height` float RGB in [0, 1] with the named mode. */
export async function resizeRgb(
  img: RgbImage,
  width: number,
  height: number,
  mode: ResizeMode,
): Promise<FloatImage> {
  if (mode === 'vips-bicubic' && (img.width !== width || img.height !== height)) {
    const resized = await sharp(img.data, {
      raw: { width: img.width, height: img.height, channels: 3 },
    })
      .resize(width, height, { kernel: 'cubic', fit: 'fill' })
      .raw()
      .toBuffer();
    return { data: toUnitFloat(resized), width, height };
  }
  const data = resizeFloat(toUnitFloat(img.data), img.height, img.width, 3, height, width, mode);
  return { data, width, height };
}

/** uint8 -> float32 in [0, 1] (ToTensor's division by 255). */
export function toUnitFloat(src: Uint8Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] / 255;
  return out;
}
