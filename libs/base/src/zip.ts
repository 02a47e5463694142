/**
 * Zip archives, as far as fidlab reads them (numpy's `.npz`, PyTorch's `torch.save` files):
 * stored and deflated members, zip64, no encryption, one disk (PKWARE APPNOTE).
 *
 *   per member  local header `PK\3\4` (30 bytes + name + extra), then the member's data
 *   then        central directory: one `PK\1\2` record (46 bytes + name + extra + comment) per
 *               member, holding its sizes, CRC-32, method and the local header's offset
 *   at the end  end-of-central-directory record `PK\5\6` (22 bytes + comment), preceded by the
 *               zip64 end record `PK\6\6` and its locator `PK\6\7` when counts or offsets
 *               overflow 16/32 bits
 * Sizes come from the central directory (resolving zip64 extras there); local headers are used
 * only to find where each member's data starts (numpy writes zip64 local headers whose 32-bit
 * sizes are 0xFFFFFFFF; torch pads their extra fields to align storages).
 *
 * Written by hand rather than with a zip library: nothing beyond this is needed, and inflate
 * (and CRC-32 where Node has it) comes from node:zlib.
 */
import * as zlib from 'node:zlib';
import { ErrorCode, FidlabError } from './errors.js';

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
export const EOCD_SIZE = 22;
export const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x1;
export const FLAG_UTF8 = 0x800;

function fail(source: string, problem: string, cause?: unknown): never {
  throw new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${source}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

// ---- CRC-32 (zip's, polynomial 0xEDB88320) -----------------------------------------------------

let crcTable: Uint32Array | undefined;

/** zip's CRC-32: node:zlib's (Node >= 20.15) when present, else a table-driven loop. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (native) return native(bytes) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---- reading ---------------------------------------------------------------------------------

interface Member {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** Bounds-checked little-endian reads that report a corrupt archive instead of a RangeError. */
class Reader {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  check(offset: number, length: number, what: string): void {
    if (offset < 0 || offset + length > this.bytes.length) {
      fail(this.source, `corrupt zip (${what} runs past the end of the file)`);
    }
  }
  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  u64(offset: number, what: string): number {
    const v = this.view.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(this.source, `corrupt zip (${what} too large)`);
    return Number(v);
  }
}

/** Locates the end-of-central-directory record and returns where the directory is. */
function findCentralDirectory(r: Reader): { offset: number; size: number; entries: number } {
  const { bytes, source } = r;
  // The record is the last thing in the file except for its variable-length comment. Require the
  // comment length to reach exactly to the end, so that `PK\5\6` inside member data can't match.
  let eocd = -1;
  const lowest = Math.max(0, bytes.length - EOCD_SIZE - 0xffff);
  for (let i = bytes.length - EOCD_SIZE; i >= lowest; i--) {
    if (r.u32(i) === SIG_EOCD && i + EOCD_SIZE + r.u16(i + 20) === bytes.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(source, 'not a zip archive (no end-of-central-directory record)');
  if (r.u16(eocd + 4) !== 0 || r.u16(eocd + 6) !== 0) {
    fail(source, 'unsupported zip (multi-disk archive)');
  }
  let entries = r.u16(eocd + 10);
  let size = r.u32(eocd + 12);
  let offset = r.u32(eocd + 16);
  if (entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || r.u32(loc) !== SIG_ZIP64_LOCATOR) {
      fail(source, 'corrupt zip (zip64 end-of-central-directory locator missing)');
    }
    const z = r.u64(loc + 8, 'zip64 end record offset');
    r.check(z, 56, 'zip64 end-of-central-directory record');
    if (r.u32(z) !== SIG_ZIP64_EOCD) fail(source, 'corrupt zip (bad zip64 end record signature)');
    entries = r.u64(z + 32, 'entry count');
    size = r.u64(z + 40, 'central directory size');
    offset = r.u64(z + 48, 'central directory offset');
  }
  r.check(offset, size, 'central directory');
  return { offset, size, entries };
}

function readCentralDirectory(r: Reader): Member[] {
  const { source } = r;
  const dir = findCentralDirectory(r);
  const members: Member[] = [];
  let p = dir.offset;
  for (let n = 0; n < dir.entries; n++) {
    r.check(p, 46, 'central directory entry');
    if (r.u32(p) !== SIG_CENTRAL) fail(source, 'corrupt zip (bad central directory signature)');
    const flags = r.u16(p + 8);
    const method = r.u16(p + 10);
    const crc = r.u32(p + 16);
    let compressedSize = r.u32(p + 20);
    let size = r.u32(p + 24);
    const nameLen = r.u16(p + 28);
    const extraLen = r.u16(p + 30);
    const commentLen = r.u16(p + 32);
    const disk = r.u16(p + 34);
    let localOffset = r.u32(p + 42);
    r.check(p + 46, nameLen + extraLen + commentLen, 'central directory entry');
    const nameBytes = r.bytes.subarray(p + 46, p + 46 + nameLen);
    // Names are cp437 unless flagged utf-8; the two agree on ASCII, which is all numpy keys use
    // unless the caller chose otherwise, in which case Python sets the utf-8 flag.
    const name = new TextDecoder('utf-8').decode(nameBytes);

    // zip64 extra (id 1): 64-bit values for exactly those fields that hold 0xFFFFFFFF, in order.
    const extraEnd = p + 46 + nameLen + extraLen;
    for (let e = p + 46 + nameLen; e + 4 <= extraEnd;) {
      const id = r.u16(e);
      const len = r.u16(e + 2);
      if (e + 4 + len > extraEnd) fail(source, `corrupt zip (extra field of '${name}')`);
      if (id === 1) {
        let q = e + 4;
        const next = (what: string): number => {
          if (q + 8 > e + 4 + len) fail(source, `corrupt zip (short zip64 field of '${name}')`);
          const v = r.u64(q, what);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next('member size');
        if (compressedSize === 0xffffffff) compressedSize = next('member size');
        if (localOffset === 0xffffffff) localOffset = next('member offset');
      }
      e += 4 + len;
    }
    if (disk !== 0 && disk !== 0xffff) fail(source, 'unsupported zip (multi-disk archive)');
    members.push({ name, method, flags, crc, compressedSize, size, localOffset });
    p = extraEnd + commentLen;
  }
  return members;
}

function memberBytes(r: Reader, m: Member): Uint8Array {
  const { source } = r;
  const where = `member '${m.name}'`;
  if (m.flags & FLAG_ENCRYPTED) fail(source, `${where} is encrypted`);
  r.check(m.localOffset, 30, `local header of ${where}`);
  if (r.u32(m.localOffset) !== SIG_LOCAL)
    fail(source, `corrupt zip (bad local header of ${where})`);
  // The local header's name and extra lengths may differ from the central directory's.
  const start = m.localOffset + 30 + r.u16(m.localOffset + 26) + r.u16(m.localOffset + 28);
  r.check(start, m.compressedSize, `data of ${where}`);
  const raw = r.bytes.subarray(start, start + m.compressedSize);

  let out: Uint8Array;
  if (m.method === METHOD_STORED) {
    out = raw;
  } else if (m.method === METHOD_DEFLATE) {
    try {
      // Cap the output at the declared size (plus one byte, to notice an overrun) so that a
      // corrupt or hostile size can't make us inflate gigabytes.
      out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, m.size + 1) });
    } catch (e) {
      fail(source, `corrupt zip (${where} does not inflate: ${(e as Error).message})`, e);
    }
  } else {
    fail(source, `unsupported zip compression method ${m.method} for ${where}`);
  }
  if (out.length !== m.size) {
    fail(source, `corrupt zip (${where} is ${out.length} bytes, directory says ${m.size})`);
  }
  if (crc32(out) !== m.crc) fail(source, `corrupt zip (CRC mismatch in ${where})`);
  return out;
}

/** The members of a zip archive in memory, read on demand (CRC-checked). */
export class ZipReader {
  private readonly r: Reader;
  private readonly members = new Map<string, Member>();

  /** `source` names the archive in errors. */
  constructor(bytes: Uint8Array, source: string) {
    this.r = new Reader(bytes, source);
    for (const m of readCentralDirectory(this.r)) {
      if (this.members.has(m.name)) fail(source, `corrupt zip (member '${m.name}' appears twice)`);
      this.members.set(m.name, m);
    }
  }

  /** Member names in archive order. */
  names(): string[] {
    return [...this.members.keys()];
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** A member's bytes: a view into the archive when stored, a fresh buffer when deflated. */
  read(name: string): Uint8Array {
    const m = this.members.get(name);
    if (!m) fail(this.r.source, `zip member '${name}' missing`);
    return memberBytes(this.r, m);
  }
}
