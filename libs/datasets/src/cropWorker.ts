// Worker-thread entry of CropPool: decode + pix2pix resize/crop/flip + float mapping for one
// sample, off the main thread (which then only copies the result into the batch).
import { parentPort } from 'node:worker_threads';
import { isFidlabError } from '@fidlab/base';
import { grayUnitInto, unitInto } from './augment.js';
import type { CropReply, CropRequest } from './cropPool.js';
import { decodePixels8, resizeCropVips8 } from './decodeImage.js';
import { vipsCubicApplies, vipsCubicCropInto } from './vipsCubic.js';

const port = parentPort!;

async function crop(m: CropRequest): Promise<Float32Array> {
  const pixels = m.size * m.size * 3;
  const out = new Float32Array(pixels * m.paths.length);
  const opts = { maxPixels: m.maxPixels };
  await Promise.all(
    m.paths.map(async (path, k) => {
      const px = await decodePixels8(path, opts);
      if (px && vipsCubicApplies(px.width, px.height, m.target)) {
        const { data, width, height, channels } = px;
        vipsCubicCropInto(
          data,
          width,
          height,
          channels,
          m.target,
          m.crop,
          m.size,
          m.lo,
          m.hi,
          out,
          k * pixels,
        );
        return;
      }
      const c = await resizeCropVips8({ path }, m.target, m.crop, m.size, opts);
      (c.channels === 1 ? grayUnitInto : unitInto)(c.data, m.lo, m.hi, out, k * pixels);
    }),
  );
  return out;
}

port.on('message', (m: CropRequest) => {
  crop(m).then(
    (data) =>
      port.postMessage({ id: m.id, data } satisfies CropReply, [data.buffer as ArrayBuffer]),
    (e: unknown) =>
      port.postMessage({
        id: m.id,
        message: (e as Error).message ?? String(e),
        code: isFidlabError(e) ? e.code : undefined,
      } satisfies CropReply),
  );
});
