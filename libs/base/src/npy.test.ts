/**
 * parseNpy / encodeNpy against files written by numpy itself (tools/fixtures/make_npy_fixtures.py
 * writes them, and expected.json with the values each must parse to).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, FidlabError } from './errors.js';
import { encodeNpy, parseNpy } from './npy.js';
import { expectedNpy as expected, npyFixture as fixture, throwsFormat } from './testing.js';

const npyFixtures = Object.keys(expected).filter((k) => k.endsWith('.npy'));

test('every numpy-written fixture parses to the exact expected values', () => {
  assert.ok(npyFixtures.length >= 13);
  for (const name of npyFixtures) {
    const want = expected[name];
    const got = parseNpy(fixture(name), name);
    assert.deepEqual(got.shape, want.shape, name);
    assert.equal(got.dtype, want.dtype, name);
    assert.ok(got.data instanceof Float64Array, name);
    assert.deepEqual(Array.from(got.data), want.data, name);
  }
});

test('values match the formula the fixture script used, not only its JSON', () => {
  const a = parseNpy(fixture('f64_2d.npy'));
  assert.deepEqual(a.shape, [5, 3]);
  assert.deepEqual(
    Array.from(a.data),
    Array.from({ length: 15 }, (_, i) => i / 7),
  );
  const f = parseNpy(fixture('f32_2d.npy'));
  assert.equal(f.dtype, 'float32');
  assert.deepEqual(
    Array.from(f.data),
    Array.from({ length: 15 }, (_, i) => Math.fround(i / 7)),
  );
  const s = parseNpy(fixture('f64_0d.npy'));
  assert.deepEqual(s.shape, []);
  assert.deepEqual(Array.from(s.data), [Math.PI]);
});

test('Fortran-order arrays come back in C order', () => {
  const f = parseNpy(fixture('f64_fortran_2d.npy'));
  assert.deepEqual(f, parseNpy(fixture('f64_2d.npy')));
  const f3 = parseNpy(fixture('f32_fortran_3d.npy'));
  assert.deepEqual(f3.shape, [2, 3, 4]);
  assert.deepEqual(
    Array.from(f3.data),
    Array.from({ length: 24 }, (_, i) => Math.fround(i / 7)),
  );
});

test('big-endian and format 2.0 / 3.0 files read like the little-endian 1.0 one', () => {
  const ref = parseNpy(fixture('f64_2d.npy'));
  assert.deepEqual(parseNpy(fixture('f64_be_2d.npy')), ref);
  assert.deepEqual(parseNpy(fixture('f64_v2.npy')), ref);
  assert.deepEqual(parseNpy(fixture('f64_v3.npy')), ref);
  assert.deepEqual(parseNpy(fixture('f32_be_1d.npy')), parseNpy(fixture('f32_1d.npy')));
});

test("'=' and '|' byte-order marks are read as native little-endian", () => {
  const bytes = fixture('f64_2d.npy');
  for (const mark of ['=', '|']) {
    const copy = bytes.slice();
    copy[10 + "{'descr': '".length] = mark.charCodeAt(0);
    assert.deepEqual(parseNpy(copy), parseNpy(bytes));
  }
});

test('input that is a view at an odd byte offset parses', () => {
  for (const name of ['f64_2d.npy', 'f32_2d.npy', 'f64_be_2d.npy']) {
    const bytes = fixture(name);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    assert.deepEqual(parseNpy(padded.subarray(3)), parseNpy(bytes), name);
  }
});

test('a Node Buffer from the shared pool parses (its .buffer holds other data too)', () => {
  const bytes = fixture('f64_2d.npy');
  const pooled = Buffer.concat([Buffer.from('junk'), bytes]).subarray(4);
  assert.ok(pooled.byteOffset > 0 || pooled.buffer.byteLength > bytes.length);
  assert.deepEqual(parseNpy(pooled), parseNpy(bytes));
});

test('encodeNpy reproduces numpy.save byte for byte', () => {
  const cases = [
    'f64_2d.npy',
    'f32_2d.npy',
    'f64_1d.npy',
    'f32_1d.npy',
    'f64_0d.npy',
    'f32_0d.npy',
    'f64_empty.npy',
  ];
  for (const name of cases) {
    const want = expected[name];
    const got = encodeNpy({ shape: want.shape, data: want.data }, want.dtype);
    assert.deepEqual(got, fixture(name), name);
  }
  // float32 from unrounded doubles: rounding must match numpy's astype(float32).
  const raw = Array.from({ length: 15 }, (_, i) => i / 7);
  assert.deepEqual(encodeNpy({ shape: [5, 3], data: raw }, 'float32'), fixture('f32_2d.npy'));
  // Default dtype float64; typed-array input; a Fortran-order file re-saved in C order.
  assert.deepEqual(
    encodeNpy({ shape: [5, 3], data: new Float64Array(raw) }),
    fixture('f64_2d.npy'),
  );
  assert.deepEqual(encodeNpy(parseNpy(fixture('f64_fortran_2d.npy'))), fixture('f64_2d.npy'));
});

test('encodeNpy headers are 64-byte aligned and round-trip, including format 2.0', () => {
  for (const shape of [[], [7], [2, 3], [123456789012, 0], new Array<number>(30000).fill(1)]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Array.from({ length: n }, (_, i) => i - 0.25);
    const bytes = encodeNpy({ shape, data });
    const version = bytes[6];
    const headerLen =
      version === 1 ? bytes[8] | (bytes[9] << 8) : new DataView(bytes.buffer).getUint32(8, true);
    const dataStart = (version === 1 ? 10 : 12) + headerLen;
    assert.equal(dataStart % 64, 0);
    assert.equal(bytes[dataStart - 1], 0x0a);
    assert.equal(version, shape.length === 30000 ? 2 : 1);
    const back = parseNpy(bytes);
    assert.deepEqual(back.shape, shape);
    assert.deepEqual(Array.from(back.data), data);
  }
});

test('encodeNpy rejects a shape that does not fit the data', () => {
  assert.throws(
    () => encodeNpy({ shape: [2, 3], data: [1, 2, 3] }),
    (e: unknown) => e instanceof FidlabError && e.code === ErrorCode.SHAPE_MISMATCH,
  );
  assert.throws(
    () => encodeNpy({ shape: [-1], data: [] }),
    (e: unknown) => e instanceof FidlabError && e.code === ErrorCode.INVALID_INPUT,
  );
});

test('unsupported dtypes are rejected by name', () => {
  throwsFormat(
    () => parseNpy(fixture('i64.npy'), 'a.npy'),
    "a.npy: unsupported dtype '<i8' (expected float32 or float64)",
  );
  const objectHeader = encodeNpy({ shape: [1], data: [0] });
  const text = "{'descr': '|O', ";
  objectHeader.set(new TextEncoder().encode(text.padEnd("{'descr': '<f8', ".length)), 10);
  throwsFormat(
    () => parseNpy(objectHeader, 'o.npy'),
    "o.npy: unsupported dtype '|O' (expected float32 or float64)",
  );
});

test('bad magic, bad version, truncation and length mismatch are BAD_FILE_FORMAT', () => {
  throwsFormat(
    () => parseNpy(new TextEncoder().encode('mu,sigma\n1,2\n'), 'x.txt'),
    'x.txt: not an npy file (bad magic)',
  );
  throwsFormat(() => parseNpy(new Uint8Array(0)), '<buffer>: not an npy file (bad magic)');
  const v4 = fixture('f64_2d.npy');
  v4[6] = 4;
  throwsFormat(() => parseNpy(v4, 'v4.npy'), /^v4\.npy: unsupported npy format version 4\.0/);
  throwsFormat(
    () => parseNpy(fixture('truncated_header.npy'), 'h.npy'),
    /^h\.npy: truncated header \(file is 40 bytes/,
  );
  throwsFormat(
    () => parseNpy(fixture('truncated_data.npy'), 'd.npy'),
    'd.npy: truncated data (shape (5, 3) of float64 needs 120 data bytes, file has 112)',
  );
  const long = new Uint8Array(fixture('f64_2d.npy').length + 8);
  long.set(fixture('f64_2d.npy'));
  throwsFormat(
    () => parseNpy(long, 'l.npy'),
    'l.npy: data length mismatch (shape (5, 3) of float64 needs 120 data bytes, file has 128)',
  );
});

test('malformed headers are BAD_FILE_FORMAT with a one-line message', () => {
  const base = fixture('f64_2d.npy');
  const edits: [string, string, RegExp][] = [
    ["'shape': (5, 3)", "'shape': [5, 3]", /shape is \[5, 3\], expected a tuple of ints/],
    ["'shape': (5, 3)", "'shape': (5,-3)", /malformed header \(unexpected character '-'/],
    ["'fortran_order': False", "'fortran_order': 0    ", /fortran_order is 0/],
    ["'descr'", "'DESCR'", /keys 'DESCR', 'fortran_order', 'shape'/],
    ["{'descr'", "\n'descr'", /malformed header/],
    ["'shape': (5, 3), }", "'shape': (5, 3), }x", /unexpected text after the dict/],
  ];
  const text = new TextDecoder().decode(base.subarray(10, 128));
  for (const [from, to, message] of edits) {
    const copy = base.slice();
    const edited = text.replace(from, to).slice(0, 118);
    copy.set(new TextEncoder().encode(edited), 10);
    throwsFormat(() => parseNpy(copy, 'm.npy'), message);
  }
  // Python 2 writers put an L after ints; numpy still reads those files.
  const py2 = base.slice();
  py2.set(new TextEncoder().encode(text.replace('(5, 3), }', '(5L, 3L), }').slice(0, 118)), 10);
  assert.deepEqual(parseNpy(py2), parseNpy(base));
});
