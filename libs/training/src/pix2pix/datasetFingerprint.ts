import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { itemsOfSplit, type DatasetIndex } from '@fidlab/datasets';

/**
 * A content hash of the images a trial trains on: sha256 over `id, sha256(photo), sha256(sketch)`
 * lines of the split's items in file-name order. Renaming the root folder keeps it; changing,
 * adding or removing an image changes it. Stored in every checkpoint.
 */
export async function datasetFingerprint(index: DatasetIndex, split: string): Promise<string> {
  const items = itemsOfSplit(index, split);
  const fileHash = async (p: string | null) =>
    p === null
      ? '-'
      : createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
  const h = createHash('sha256');
  for (const it of items) {
    h.update(`${it.id}\t${await fileHash(it.a)}\t${await fileHash(it.b)}\n`);
  }
  return `sha256:${h.digest('hex')}`;
}
