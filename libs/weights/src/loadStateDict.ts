import { open, readFile } from 'node:fs/promises';
import { ErrorCode, FidlabError } from '@fidlab/base';
import { looksLikeSafetensors, readSafetensors } from './safetensors.js';
import { readTorchLegacy, readTorchZip } from './torchPickle.js';
import type { StateDict } from './types.js';

export type WeightFileFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

/** Identifies a weight file by its first bytes (never by its extension). */
export function sniffFormat(head: Uint8Array, fileSize: number, file: string): WeightFileFormat {
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)) return 'torch-zip';
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'torch-legacy';
  if (looksLikeSafetensors(head, fileSize)) return 'safetensors';
  const ustar = new TextDecoder('latin1').decode(head.subarray(257, 262));
  if (ustar === 'ustar') {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${file}: a tar archive (PyTorch < 0.4 checkpoint format), not supported; re-save it with ` +
        `torch.save(torch.load(f), f2) in a recent PyTorch`,
    );
  }
  const hex = Buffer.from(head.subarray(0, 8)).toString('hex');
  throw new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${file}: not a PyTorch .pth (zip or legacy pickle) or .safetensors file (first bytes ${hex})`,
  );
}

/** Reads the first bytes and the size of a file, naming it when it is missing. */
async function head(path: string): Promise<{ head: Uint8Array; size: number }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FidlabError(ErrorCode.FILE_NOT_FOUND, `weight file not found: ${path}`);
    }
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(size, 512));
    await fh.read(buf, 0, buf.length, 0);
    return { head: buf, size };
  } finally {
    await fh.close();
  }
}

/**
 * Loads every tensor of a weight file: PyTorch zip (torch >= 1.6), PyTorch legacy pickle, or
 * .safetensors, recognised by content. Nested dicts give dotted names; a checkpoint that wraps
 * its state_dict ({'state_dict': sd, 'epoch': 3}) yields the inner one. Non-tensor entries are
 * dropped. Values are float32 (contiguous, row-major); `dtype` keeps the file's type.
 */
export async function loadStateDict(path: string): Promise<StateDict> {
  const { head: first, size } = await head(path);
  const format = sniffFormat(first, size, path);
  const buf = await readFile(path);
  return parseStateDict(buf, path, format);
}

/** loadStateDict on bytes already in memory (`file` only names it in errors). */
export function parseStateDict(
  buf: Uint8Array,
  file: string,
  format?: WeightFileFormat,
): StateDict {
  const f = format ?? sniffFormat(buf.subarray(0, 512), buf.length, file);
  if (f === 'torch-zip') return readTorchZip(buf, file);
  if (f === 'torch-legacy') return readTorchLegacy(buf, file);
  return readSafetensors(buf, file);
}
