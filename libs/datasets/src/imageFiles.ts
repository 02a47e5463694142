import { readdirSync, type Dirent } from 'node:fs';
import { extname, join } from 'node:path';

/**
 * File extensions the loader decodes, lower case: pytorch-fid's IMAGE_EXTENSIONS (bmp, jpg, jpeg,
 * pgm, png, ppm, tif, tiff, webp). sharp decodes most; BMP and Netpbm go through
 * `decodeOtherFormat` (decodeImage.ts). Not .pbm: pytorch-fid skips it, and a folder's FID must
 * be over the same files as pytorch-fid's.
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.bmp',
  '.jpg',
  '.jpeg',
  '.pgm',
  '.png',
  '.ppm',
  '.tif',
  '.tiff',
  '.webp',
];

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** The files of one folder (not recursive), split into images and other files, sorted by name. */
export function listImages(dir: string): { images: string[]; other: string[] } {
  const images: string[] = [];
  const other: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return { images, other };
  }
  for (const e of entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    (isImageFile(e.name) ? images : other).push(join(dir, e.name));
  }
  return { images, other };
}

/** The sub-folders of a folder, sorted by name (hidden ones skipped). */
export function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
