import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { encodeNpy } from '@fidlab/base';
import type { Matrix } from '@fidlab/fid-core';
import type { ExtractorPool, FeatureExtractor } from '@fidlab/features';
import { numberOption, parse, UsageError, type Command, type Io } from '../command.js';
import { progressPrinter } from '../format.js';
import { requireInputFile, requireInputFolder, requireOutputFile, writeResult } from '../paths.js';

// The extractors (and tfjs under them) load only when an image folder is read or a usage text
// lists them: `fidlab fid a.npy b.npy` never loads them.
const featuresLib = () => import('@fidlab/features');

/** The options every command that reads image folders takes (fid, kid, stats, features). */
export const EXTRACTOR_OPTIONS = {
  extractor: { type: 'string' },
  weights: { type: 'string' },
  'batch-size': { type: 'string' },
  workers: { type: 'string' },
  backend: { type: 'string' },
} as const;

/** The usage lines of EXTRACTOR_OPTIONS (loads @fidlab/features for the extractor names). */
export async function extractorUsage(): Promise<string> {
  const { knownExtractors, DEFAULT_BATCH_SIZE } = await featuresLib();
  return `  --extractor NAME  feature extractor for image folders: ${knownExtractors().join(', ')}
  --weights PATH    weights file (.pth or .safetensors; default: the cached download of
                    'fidlab weights fetch')
  --batch-size B    images per forward pass (default ${DEFAULT_BATCH_SIZE})
  --workers N       on the wasm backend, N threads each running whole batches (default: one
                    per core, at most 4; each holds a copy of the network)
  --backend B       auto (default), gpu, node, wasm, cpu; also FIDLAB_BACKEND`;
}

interface ExtractorValues {
  extractor?: string;
  weights?: string;
  'batch-size'?: string;
  workers?: string;
  backend?: string;
}

export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Prints on stderr the files of `dir` that are not read because they are not images (by
 * extension, as pytorch-fid decides), with their count: `skipped 2 files in DIR that are not
 * images: a.txt, b.json`. Hidden files are not listed.
 */
export async function reportSkipped(dir: string, io: Io): Promise<void> {
  const { listImages } = await import('@fidlab/datasets');
  const other = listImages(dir).other.map((p) => basename(p));
  if (other.length === 0) return;
  const SHOWN = 10;
  const names =
    other.slice(0, SHOWN).join(', ') +
    (other.length > SHOWN ? `, ... (${other.length - SHOWN} more)` : '');
  const what = other.length === 1 ? '1 file' : `${other.length} files`;
  io.err(
    `skipped ${what} in ${dir} that ${other.length === 1 ? 'is not an image' : 'are not images'}: ${names}`,
  );
}

/** Features of image folders for one command run: the extractor is built on first use. */
export class FolderFeatures {
  private extractor?: Promise<FeatureExtractor | ExtractorPool>;
  // 0: not given, the extractor lib's default (read when it loads).
  private readonly batchSize: number;
  private readonly workers: number;

  constructor(
    private readonly values: ExtractorValues,
    private readonly io: Io,
  ) {
    this.batchSize = numberOption(values['batch-size'], 'batch-size', 0, {
      integer: true,
      min: 1,
    });
    this.workers = numberOption(values.workers, 'workers', 0, {
      integer: true,
      min: 1,
    });
    if (!values.extractor && values.weights) {
      throw new UsageError('--weights needs --extractor NAME');
    }
    if (values.weights !== undefined)
      requireInputFile(values.weights, '--weights', 'a weights file (.pth or .safetensors)');
  }

  async of(dir: string): Promise<Matrix> {
    const name = this.values.extractor;
    const lib = await featuresLib();
    const { knownExtractors, ExtractorPool, createExtractor, folderFeatures } = lib;
    if (!name) {
      throw new UsageError(
        `${dir} is a folder: pass --extractor NAME to compute its features (${knownExtractors().join(', ')})`,
      );
    }
    await reportSkipped(dir, this.io);
    this.extractor ??= (async () => {
      const { selectBackend } = await import('@fidlab/models');
      const backend = await selectBackend({ backend: this.values.backend, log: this.io.err });
      const { weights } = this.values;
      const workers = this.workers || lib.defaultWorkers();
      // wasm runs on one thread: more cores need more workers. Native backends thread themselves.
      if (backend === 'wasm' && workers > 1)
        return ExtractorPool.create(name, { weights, workers });
      return createExtractor(name, { weights });
    })();
    const ext = await this.extractor;
    return folderFeatures(dir, ext, {
      batchSize: this.batchSize || lib.DEFAULT_BATCH_SIZE,
      onProgress: progressPrinter(this.io.err, `${ext.name} ${dir}`),
    });
  }

  async dispose(): Promise<void> {
    if (this.extractor) await (await this.extractor.catch(() => undefined))?.dispose();
  }
}

export const featuresCommand: Command = {
  name: 'features',
  summary: 'features of every image in a folder (.npy, one row per image in file-name order)',
  usage:
    async () => `usage: fidlab features DIR --extractor NAME [--weights PATH] [--batch-size B] --out F.npy

Runs the extractor over the images of DIR (bmp, jpg, jpeg, pgm, png, ppm, tif, tiff, webp: the
extensions pytorch-fid reads; not recursive) in sorted file-name order, as pytorch-fid does
(other files are listed on stderr as skipped), and writes an N x D float32 .npy. Images may differ in
size: each is resized to the network's input size (bilinear, align_corners=False).

${await extractorUsage()}
  --out F.npy       output file`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { ...EXTRACTOR_OPTIONS, out: { type: 'string' } },
    });
    if (positionals.length !== 1)
      throw new UsageError(`expected one DIR, got ${positionals.length}`);
    if (!values.extractor) throw new UsageError('--extractor NAME is required');
    if (!values.out) throw new UsageError('--out F.npy is required');
    // Every path is checked before the extractor runs: a bad --out must not cost the features.
    requireInputFolder(positionals[0], '', 'a folder of images');
    requireOutputFile(values.out, '--out', 'features.npy');
    const folders = new FolderFeatures(values, io);
    try {
      const f = await folders.of(positionals[0]);
      await writeResult(
        values.out,
        encodeNpy({ shape: [f.rows, f.cols], data: f.data }, 'float32'),
      );
      io.out(`wrote ${values.out} (${f.rows} x ${f.cols}, ${values.extractor})`);
    } finally {
      await folders.dispose();
    }
    return 0;
  },
};
