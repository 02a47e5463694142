import { inflateRawSync } from 'node:zlib';
import { ErrorCode, FidlabError } from '@fidlab/fid-core';

/**
 * A minimal zip reader for PyTorch's archives (torch >= 1.6 writes them uncompressed, with
 * zip64 records past 4 GiB and padding in the local headers' extra fields to align storages).
 * Stored and deflated entries are supported; encryption and multi-disk archives are not.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.readCentralDirectory();
  }

  private fail(what: string): never {
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${this.file}: ${what} (zip archive)`);
  }

  private u16(p: number): number {
    if (p + 2 > this.buf.length) this.fail('truncated');
    return this.view.getUint16(p, true);
  }
  private u32(p: number): number {
    if (p + 4 > this.buf.length) this.fail('truncated');
    return this.view.getUint32(p, true);
  }
  private u64(p: number): number {
    if (p + 8 > this.buf.length) this.fail('truncated');
    return Number(this.view.getBigUint64(p, true));
  }

  private readCentralDirectory(): void {
    // The end record is in the last 22 + 65535 (comment) bytes.
    let eocd = -1;
    for (let p = this.buf.length - 22; p >= Math.max(0, this.buf.length - 22 - 0xffff); p--) {
      if (this.view.getUint32(p, true) === EOCD) {
        eocd = p;
        break;
      }
    }
    if (eocd < 0) this.fail('end of central directory not found (truncated download?)');
    let count = this.u16(eocd + 10);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== EOCD64_LOCATOR) this.fail('zip64 locator missing');
      const rec = this.u64(loc + 8);
      if (this.u32(rec) !== EOCD64) this.fail('zip64 end record missing');
      count = this.u64(rec + 32);
      cdOffset = this.u64(rec + 48);
    }
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(p) !== CENTRAL) this.fail(`bad central directory entry ${i}`);
      const flags = this.u16(p + 8);
      if (flags & 1) this.fail('encrypted entries are not supported');
      const method = this.u16(p + 10);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localHeaderOffset = this.u32(p + 42);
      const name = new TextDecoder().decode(this.buf.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended information: only the fields that overflowed are present, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = this.u16(e);
        const len = this.u16(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) {
            size = this.u64(q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = this.u64(q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(q);
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p = extraEnd + commentLen;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The entry's bytes: a view into the archive when stored, a fresh buffer when deflated. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`entry '${name}' missing`);
    const h = entry!.localHeaderOffset;
    if (this.u32(h) !== LOCAL) this.fail(`bad local header for '${name}'`);
    const start = h + 30 + this.u16(h + 26) + this.u16(h + 28);
    const end = start + entry!.compressedSize;
    if (end > this.buf.length)
      this.fail(`entry '${name}' runs past the end of the file (truncated?)`);
    const raw = this.buf.subarray(start, end);
    if (entry!.method === 0) return raw;
    if (entry!.method === 8) return new Uint8Array(inflateRawSync(raw));
    return this.fail(`entry '${name}' uses compression method ${entry!.method}`);
  }
}
