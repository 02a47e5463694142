/**
 * NumPy `.npz` files: a zip archive whose members are `.npy` files named `<key>.npy`, as written
 * by `numpy.savez` (members stored) and `numpy.savez_compressed` (members deflated).
 *
 * Zip layout (see zip.ts):
 *   per member  local header `PK\3\4` (30 bytes + name + extra), then the member's data
 *   then        central directory: one `PK\1\2` record (46 bytes + name + extra + comment) per
 *               member, holding its sizes, CRC-32, method and the local header's offset
 *   at the end  end-of-central-directory record `PK\5\6` (22 bytes + comment), preceded by the
 *               zip64 end record `PK\6\6` and its locator `PK\6\7` when counts or offsets
 *               overflow 16/32 bits
 * numpy always writes zip64 local headers (`force_zip64=True`, gh-10776): their 32-bit size
 * fields are 0xFFFFFFFF and the real sizes sit in a zip64 extra field. This reader takes sizes
 * from the central directory (resolving zip64 extras there) and uses local headers only to find
 * where each member's data starts.
 *
 * Written by hand rather than with a zip library: nothing beyond stored and deflated members is
 * needed, and inflate comes from node:zlib.
 */
import { ErrorCode, FidlabError } from './errors.js';
import { encodeNpy, parseNpy, type NdArray, type NpyDtype } from './npy.js';
import {
  crc32,
  EOCD_SIZE,
  FLAG_UTF8,
  METHOD_STORED,
  SIG_CENTRAL,
  SIG_EOCD,
  SIG_LOCAL,
  ZipReader,
} from './zip.js';

function fail(source: string, problem: string): never {
  throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${source}: ${problem}`);
}

/**
 * Reads an `.npz` archive. Keys are member names without the `.npy` suffix, in archive order
 * (`np.savez(f, mu=..., sigma=...)` gives 'mu', 'sigma').
 */
export function parseNpz(bytes: Uint8Array, source = '<buffer>'): Map<string, NdArray> {
  const zip = new ZipReader(bytes, source);
  const out = new Map<string, NdArray>();
  for (const name of zip.names()) {
    if (name.endsWith('/')) continue; // directory entry; numpy never writes one
    const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
    if (out.has(key)) fail(source, `corrupt zip (member '${name}' appears twice)`);
    out.set(key, parseNpy(zip.read(name), `${source}: member '${name}'`));
  }
  return out;
}

// ---- writing ---------------------------------------------------------------------------------

/**
 * Writes an `.npz` archive with stored (uncompressed) members, laid out as CPython's zipfile
 * does for `numpy.savez` (zip64 local headers, timestamps 1980-01-01 00:00, mode 0600), so the
 * output matches `np.savez` byte for byte. Keys become member names `<key>.npy`, in object order
 * (JavaScript puts integer-like keys first).
 */
export function encodeNpz(
  entries: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>,
  dtype: NpyDtype = 'float64',
): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const keys = Object.keys(entries);
  if (keys.length > 0xfffe) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, `encodeNpz: too many arrays (${keys.length})`);
  }
  for (const key of keys) {
    const data = encodeNpy(entries[key], dtype);
    const name = encoder.encode(`${key}.npy`);
    // Like zipfile: the utf-8 flag only when the name is not plain ASCII.
    const flags = name.length === key.length + 4 ? 0 : FLAG_UTF8; // utf-8 longer: not ASCII
    const crc = crc32(data);
    if (offset + data.length > 0xfffffffe) {
      throw new FidlabError(ErrorCode.INVALID_INPUT, 'encodeNpz: archive would exceed 4 GiB');
    }

    const local = new Uint8Array(30 + name.length + 20);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, 45, true); // version needed: 4.5, zip64
    lv.setUint16(6, flags, true);
    lv.setUint16(8, METHOD_STORED, true);
    lv.setUint16(10, 0, true); // DOS time 00:00:00
    lv.setUint16(12, (1 << 5) | 1, true); // DOS date 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, 0xffffffff, true); // sizes live in the zip64 extra (numpy forces zip64)
    lv.setUint32(22, 0xffffffff, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 20, true);
    local.set(name, 30);
    const x = 30 + name.length;
    lv.setUint16(x, 1, true); // zip64 extra: uncompressed then compressed size
    lv.setUint16(x + 2, 16, true);
    lv.setBigUint64(x + 4, BigInt(data.length), true);
    lv.setBigUint64(x + 12, BigInt(data.length), true);

    const cen = new Uint8Array(46 + name.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, (3 << 8) | 45, true); // made by: unix, version 4.5
    cv.setUint16(6, 45, true);
    cv.setUint16(8, flags, true);
    cv.setUint16(10, METHOD_STORED, true);
    cv.setUint16(12, 0, true);
    cv.setUint16(14, (1 << 5) | 1, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true); // under 4 GiB: plain 32-bit sizes here, as zipfile does
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, name.length, true);
    // extra, comment, disk, internal attributes: 0
    cv.setUint32(38, 0o600 << 16, true); // external attributes: unix mode rw-------
    cv.setUint32(42, offset, true);
    cen.set(name, 46);

    parts.push(local, data);
    central.push(cen);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  if (offset + cdSize > 0xfffffffe) {
    throw new FidlabError(ErrorCode.INVALID_INPUT, 'encodeNpz: archive would exceed 4 GiB');
  }
  const eocd = new Uint8Array(EOCD_SIZE);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, keys.length, true);
  ev.setUint16(10, keys.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);

  const out = new Uint8Array(offset + cdSize + EOCD_SIZE);
  let p = 0;
  for (const part of [...parts, ...central, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
