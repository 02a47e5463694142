/**
 * NumPy `.npy` files: one array, as written by `numpy.save`.
 *
 * Layout (numpy/lib/format.py):
 *   bytes 0-5   magic `\x93NUMPY`
 *   bytes 6-7   format version, major then minor: 1.0, 2.0 or 3.0
 *   next 2 or 4 header length HLEN, little-endian: u16 in 1.0, u32 in 2.0 and 3.0
 *   next HLEN   header: a Python dict literal, latin-1 (1.0, 2.0) or utf-8 (3.0), e.g.
 *               `{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }`
 *               then spaces and a final `\n`, so that magic + version + length + header is a
 *               multiple of 64 bytes (numpy aligns the data for memory mapping)
 *   the rest    the raw elements, exactly prod(shape) * itemsize bytes, in C (row-major) order
 *               unless fortran_order is True
 *
 * Current numpy also puts 21 - len(str(shape[0])) spaces after the `}` (room to grow the
 * first axis in place) before the alignment padding; encodeNpy copies that so that its output is
 * byte-identical to `numpy.save`. Only float32 and float64 are read: that is what feature
 * matrices and FID statistics are stored as.
 */
import { ErrorCode, FidlabError } from './errors.js';

export type NpyDtype = 'float32' | 'float64';

/** Values are widened to float64; dtype says what the file held. */
export interface NdArray {
  shape: number[];
  dtype: NpyDtype;
  data: Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64; // numpy's ARRAY_ALIGN
const GROWTH_AXIS_MAX_DIGITS = 21; // numpy's spare spaces for in-place growth of the first axis
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(source: string, problem: string, cause?: unknown): never {
  throw new FidlabError(
    ErrorCode.BAD_FILE_FORMAT,
    `${source}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Quote text from a file for an error message: keep it on one line and short. */
function quote(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
  return `'${t.length > 40 ? `${t.slice(0, 40)}...` : t}'`;
}

// ---- header parsing: a tiny reader for the Python literals numpy writes ----------------------

interface PyTuple {
  tuple: PyValue[];
}
type PyValue = string | number | boolean | null | PyValue[] | PyTuple | Map<string, PyValue>;

/**
 * Parses the Python literal subset found in npy headers (dicts, tuples, lists, strings, ints,
 * True/False/None). Numbers only need to be non-negative integers (shape entries); Python 2
 * writers may have added an `L` suffix, which numpy also accepts.
 */
class PyLiteralReader {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseAll(): PyValue {
    const v = this.value();
    this.skipSpace();
    if (this.pos !== this.text.length) this.error('unexpected text after the dict');
    return v;
  }

  private error(what: string): never {
    throw new SyntaxError(`${what} at offset ${this.pos}`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private value(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === undefined) this.error('unexpected end');
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence(')');
    if (c === '[') return this.sequence(']');
    if (c === "'" || c === '"') return this.string();
    if (/[0-9]/.test(c)) return this.integer();
    const word = /^[A-Za-z_]\w*/.exec(this.text.slice(this.pos, this.pos + 16))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    this.error(`unexpected character ${quote(c)}`);
  }

  private dict(): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    this.pos++; // {
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === '}') break;
      const key = this.value();
      if (typeof key !== 'string') this.error('dict key is not a string');
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.error("expected ':'");
      this.pos++;
      out.set(key, this.value());
      this.skipSpace();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== '}') this.error("expected ',' or '}'");
    }
    this.pos++; // }
    return out;
  }

  /** Tuple or list. `(5)` is just 5 in Python, `(5,)` is a 1-tuple; the comma decides. */
  private sequence(close: ')' | ']'): PyValue {
    const items: PyValue[] = [];
    let sawComma = false;
    this.pos++;
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === close) break;
      items.push(this.value());
      this.skipSpace();
      if (this.text[this.pos] === ',') {
        sawComma = true;
        this.pos++;
      } else if (this.text[this.pos] !== close) this.error(`expected ',' or '${close}'`);
    }
    this.pos++;
    if (close === ']') return items;
    return items.length === 1 && !sawComma ? items[0] : { tuple: items };
  }

  private string(): string {
    const q = this.text[this.pos++];
    let out = '';
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined) this.error('unterminated string');
      if (c === q) return out;
      if (c === '\\') {
        const e = this.text[this.pos++];
        if (e === undefined) this.error('unterminated string');
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e; // descr strings never need more
      } else out += c;
    }
  }

  private integer(): number {
    const m = /^[0-9]+/.exec(this.text.slice(this.pos))![0];
    this.pos += m.length;
    if (this.text[this.pos] === 'L' || this.text[this.pos] === 'l') this.pos++;
    return Number(m);
  }
}

function isTuple(v: PyValue): v is PyTuple {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map);
}

function reprValue(v: PyValue): string {
  if (typeof v === 'string') return quote(v);
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map(reprValue).join(', ')}]`;
  if (isTuple(v)) {
    const items = v.tuple.map(reprValue);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  return '{...}';
}

/** Python's repr of a tuple of ints: `()`, `(5,)`, `(5, 3)`. */
function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Big-endian, little-endian, or native (`=`, `|`, no mark: taken as little-endian, as on every
 * machine numpy files come from in practice). */
function parseDescr(descr: string): { dtype: NpyDtype; littleEndian: boolean } | undefined {
  const m = /^([<>=|]?)f([48])$/.exec(descr);
  if (!m) return undefined;
  return { dtype: m[2] === '4' ? 'float32' : 'float64', littleEndian: m[1] !== '>' };
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

// ---- reading ---------------------------------------------------------------------------------

/** Reads a `.npy` file (format 1.0, 2.0 or 3.0) holding float32 or float64 values. */
export function parseNpy(bytes: Uint8Array, source = '<buffer>'): NdArray {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(source, 'not an npy file (bad magic)');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (minor !== 0 || major < 1 || major > 3) {
    fail(source, `unsupported npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`);
  }
  const lenBytes = major === 1 ? 2 : 4;
  const headerStart = 8 + lenBytes;
  if (bytes.length < headerStart) {
    fail(source, `truncated header (file is ${bytes.length} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) {
    fail(source, `truncated header (file is ${bytes.length} bytes, header ends at ${dataStart})`);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  let header: string;
  try {
    header =
      major === 3
        ? new TextDecoder('utf-8', { fatal: true }).decode(headerBytes)
        : latin1(headerBytes); // not TextDecoder('latin1'): that one is windows-1252
  } catch (e) {
    fail(source, 'malformed header (not valid utf-8)', e);
  }

  let dict: PyValue;
  try {
    dict = new PyLiteralReader(header).parseAll();
  } catch (e) {
    fail(source, `malformed header (${(e as Error).message})`, e);
  }
  if (!(dict instanceof Map)) fail(source, 'malformed header (not a dict)');
  const keys = [...dict.keys()].sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    fail(
      source,
      `malformed header (keys ${keys.map(quote).join(', ')}; expected 'descr', 'fortran_order', 'shape')`,
    );
  }
  const descr = dict.get('descr')!;
  const fortranOrder = dict.get('fortran_order')!;
  const shapeValue = dict.get('shape')!;

  const parsed = typeof descr === 'string' ? parseDescr(descr) : undefined;
  if (!parsed) {
    fail(source, `unsupported dtype ${reprValue(descr)} (expected float32 or float64)`);
  }
  if (typeof fortranOrder !== 'boolean') {
    fail(source, `malformed header (fortran_order is ${reprValue(fortranOrder)})`);
  }
  if (!isTuple(shapeValue) || !shapeValue.tuple.every((d) => typeof d === 'number')) {
    fail(source, `malformed header (shape is ${reprValue(shapeValue)}, expected a tuple of ints)`);
  }
  const shape = shapeValue.tuple as number[];

  const itemSize = parsed.dtype === 'float32' ? 4 : 8;
  const available = bytes.length - dataStart;
  // Multiply in floating point: a huge claimed shape must not wrap around to a small size.
  const count = shape.reduce((a, b) => a * b, 1);
  const needed = count * itemSize;
  if (needed !== available) {
    const what = `shape ${shapeRepr(shape)} of ${parsed.dtype} needs ${needed} data bytes, file has ${available}`;
    fail(
      source,
      needed > available ? `truncated data (${what})` : `data length mismatch (${what})`,
    );
  }

  let data: Float64Array = decode(
    bytes.subarray(dataStart),
    parsed.dtype,
    parsed.littleEndian,
    count,
  );
  if (fortranOrder) data = fortranToC(data, shape);
  return { shape, dtype: parsed.dtype, data };
}

function decode(
  raw: Uint8Array,
  dtype: NpyDtype,
  littleEndian: boolean,
  count: number,
): Float64Array {
  if (littleEndian === HOST_LITTLE_ENDIAN) {
    // Copy into a fresh buffer so the typed-array view is aligned whatever the input's byteOffset.
    // (Not raw.slice(): on a Node Buffer that is a view into the shared pool, not a copy.)
    const copy = new Uint8Array(raw).buffer;
    return dtype === 'float64'
      ? new Float64Array(copy, 0, count)
      : Float64Array.from(new Float32Array(copy, 0, count));
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float64Array(count);
  if (dtype === 'float64')
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, littleEndian);
  else for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, littleEndian);
  return out;
}

/** Reorders column-major (first axis fastest) values into row-major (last axis fastest). */
function fortranToC(src: Float64Array, shape: readonly number[]): Float64Array {
  const rank = shape.length;
  if (rank < 2 || src.length === 0) return src;
  const fStride: number[] = [];
  let s = 1;
  for (let k = 0; k < rank; k++) {
    fStride.push(s);
    s *= shape[k];
  }
  const out = new Float64Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  let off = 0; // Fortran offset of the C-order position i
  for (let i = 0; i < src.length; i++) {
    out[i] = src[off];
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      off += fStride[k];
      if (idx[k] < shape[k]) break;
      off -= fStride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

// ---- writing ---------------------------------------------------------------------------------

/**
 * Encodes a C-order array as `.npy` bytes identical to what `numpy.save` writes for the same
 * array and dtype (little-endian; format 1.0 unless the header is too long for it, as numpy).
 */
export function encodeNpy(
  arr: { shape: readonly number[]; data: ArrayLike<number> },
  dtype: NpyDtype = 'float64',
): Uint8Array {
  const { shape, data } = arr;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new FidlabError(
        ErrorCode.INVALID_INPUT,
        `encodeNpy: shape ${JSON.stringify(shape)} must hold non-negative integers`,
      );
    }
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new FidlabError(
      ErrorCode.SHAPE_MISMATCH,
      `encodeNpy: shape ${shapeRepr(shape)} needs ${count} values, got ${data.length}`,
    );
  }
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new FidlabError(
      ErrorCode.INVALID_INPUT,
      `encodeNpy: unsupported dtype '${String(dtype)}'`,
    );
  }

  const descr = dtype === 'float32' ? '<f4' : '<f8';
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0)
    dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  // Like numpy: version 1.0 (u16 length) if the padded header fits, otherwise 2.0 (u32).
  // The header is ASCII, so version 3.0 (utf-8) is never needed.
  let lenBytes = 2;
  let padded = pad(dict, 8 + lenBytes);
  if (padded.length > 0xffff) {
    lenBytes = 4;
    padded = pad(dict, 8 + lenBytes);
  }
  const headerEnd = 8 + lenBytes + padded.length;
  const itemSize = dtype === 'float32' ? 4 : 8;
  const out = new Uint8Array(headerEnd + count * itemSize);
  out.set(MAGIC, 0);
  out[6] = lenBytes === 2 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (lenBytes === 2) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  for (let i = 0; i < padded.length; i++) out[8 + lenBytes + i] = padded.charCodeAt(i);

  if (HOST_LITTLE_ENDIAN) {
    // Float32Array.from rounds to nearest-even, as numpy's astype(float32) does.
    const typed = dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data);
    out.set(new Uint8Array(typed.buffer), headerEnd);
  } else if (dtype === 'float32') {
    for (let i = 0; i < count; i++) view.setFloat32(headerEnd + i * 4, data[i], true);
  } else {
    for (let i = 0; i < count; i++) view.setFloat64(headerEnd + i * 8, data[i], true);
  }
  return out;
}

/** numpy's _wrap_header: spaces then `\n` so that prefix + header is a multiple of 64 bytes. */
function pad(dict: string, prefixLen: number): string {
  const hlen = dict.length + 1;
  const padLen = ALIGN - ((prefixLen + hlen) % ALIGN); // 1..64, never 0, exactly as numpy
  return `${dict}${' '.repeat(padLen)}\n`;
}
