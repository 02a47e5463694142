/**
 * parseNpz / encodeNpz against archives written by numpy.savez and numpy.savez_compressed
 * (tools/fixtures/make_npy_fixtures.py).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeNpz, parseNpz } from './npz.js';
import { expectedNpy as expected, npyFixture as fixture, throwsFormat } from './testing.js';

function checkStats(stats: ReturnType<typeof parseNpz>, prefix: string): void {
  assert.deepEqual([...stats.keys()], ['mu', 'sigma']);
  for (const key of ['mu', 'sigma']) {
    const want = expected[`${prefix}:${key}`];
    const got = stats.get(key)!;
    assert.deepEqual(got.shape, want.shape, key);
    assert.equal(got.dtype, want.dtype, key);
    assert.deepEqual(Array.from(got.data), want.data, key);
  }
}

test('reads np.savez output (stored members with zip64 local headers)', () => {
  const stats = parseNpz(fixture('stats.npz'), 'stats.npz');
  checkStats(stats, 'stats.npz');
  assert.deepEqual(stats.get('mu')!.shape, [8]);
  assert.deepEqual(stats.get('sigma')!.shape, [8, 8]);
  checkStats(parseNpz(fixture('stats_f32.npz')), 'stats_f32.npz');
});

test('reads np.savez_compressed output (deflated members)', () => {
  checkStats(parseNpz(fixture('stats_compressed.npz'), 'stats_compressed.npz'), 'stats.npz');
});

test('encodeNpz reproduces np.savez byte for byte', () => {
  const entry = (key: string) => ({
    shape: expected[key].shape,
    data: expected[key].data,
  });
  assert.deepEqual(
    encodeNpz({ mu: entry('stats.npz:mu'), sigma: entry('stats.npz:sigma') }),
    fixture('stats.npz'),
  );
  assert.deepEqual(
    encodeNpz({ mu: entry('stats_f32.npz:mu'), sigma: entry('stats_f32.npz:sigma') }, 'float32'),
    fixture('stats_f32.npz'),
  );
  // Re-encoding what was read from the compressed file gives the stored one.
  const fromCompressed = parseNpz(fixture('stats_compressed.npz'));
  assert.deepEqual(encodeNpz(Object.fromEntries(fromCompressed)), fixture('stats.npz'));
});

test('encodeNpz round-trips, including an empty archive and a non-ASCII key', () => {
  assert.equal(parseNpz(encodeNpz({})).size, 0);
  const entries = {
    a: { shape: [2, 2], data: [1, 2, 3, 4] },
    scalar: { shape: [], data: [0.1] },
    größe: { shape: [0], data: [] },
  };
  const back = parseNpz(encodeNpz(entries));
  assert.deepEqual([...back.keys()], ['a', 'scalar', 'größe']);
  for (const [key, value] of Object.entries(entries)) {
    assert.deepEqual(back.get(key), {
      shape: value.shape,
      dtype: 'float64',
      data: new Float64Array(value.data),
    });
  }
});

test('parses an archive that is a view into a larger buffer', () => {
  const bytes = fixture('stats_compressed.npz');
  const padded = new Uint8Array(bytes.length + 5);
  padded.set(bytes, 5);
  checkStats(parseNpz(padded.subarray(5)), 'stats.npz');
});

test('a member that is not an npy file is named in the error', () => {
  throwsFormat(
    () => parseNpz(fixture('bad_member.npz'), 'bad_member.npz'),
    "bad_member.npz: member 'mu.npy': not an npy file (bad magic)",
  );
  const ints = encodeNpz({ mu: { shape: [1], data: [1] } });
  // Make the member an int64 array (same item size) and fix its CRC so that only the dtype is wrong.
  const at = ints.indexOf(0x3c, 30); // first '<' after the local header: the one in '<f8'
  ints[at + 1] = 'i'.charCodeAt(0);
  const fixed = encodeNpzWithMember(ints);
  throwsFormat(
    () => parseNpz(fixed, 's.npz'),
    "s.npz: member 'mu.npy': unsupported dtype '<i8' (expected float32 or float64)",
  );
});

/** Recomputes the CRC fields of a single-member archive written by encodeNpz. */
function encodeNpzWithMember(archive: Uint8Array): Uint8Array {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const nameLen = view.getUint16(26, true);
  const start = 30 + nameLen + view.getUint16(28, true);
  const size = Number(view.getBigUint64(30 + nameLen + 4, true));
  let c = 0xffffffff;
  for (let i = start; i < start + size; i++) {
    c ^= archive[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  const crc = (c ^ 0xffffffff) >>> 0;
  view.setUint32(14, crc, true);
  view.setUint32(start + size + 16, crc, true); // central directory entry follows the data
  return archive;
}

test('corrupt archives are BAD_FILE_FORMAT naming the source', () => {
  const good = fixture('stats.npz');
  throwsFormat(
    () => parseNpz(good.subarray(0, good.length - 10), 'cut.npz'),
    'cut.npz: not a zip archive (no end-of-central-directory record)',
  );
  throwsFormat(
    () => parseNpz(fixture('f64_2d.npy'), 'f64_2d.npy'),
    'f64_2d.npy: not a zip archive (no end-of-central-directory record)',
  );
  throwsFormat(
    () => parseNpz(new Uint8Array(0)),
    '<buffer>: not a zip archive (no end-of-central-directory record)',
  );

  // One flipped bit in mu's data: the CRC catches it.
  const flipped = good.slice();
  flipped[200] ^= 1;
  throwsFormat(
    () => parseNpz(flipped, 'f.npz'),
    "f.npz: corrupt zip (CRC mismatch in member 'mu.npy')",
  );

  // Central directory offset pointing past the end.
  const badOffset = good.slice();
  new DataView(badOffset.buffer).setUint32(badOffset.length - 6, 0x7fffffff, true);
  throwsFormat(() => parseNpz(badOffset, 'o.npz'), /^o\.npz: corrupt zip \(central directory/);

  // Garbage in the middle of a deflate stream.
  const deflated = fixture('stats_compressed.npz');
  const garbled = deflated.slice();
  for (let i = 120; i < 160; i++) garbled[i] = 0xff;
  throwsFormat(() => parseNpz(garbled, 'z.npz'), /^z\.npz: corrupt zip \(member 'mu\.npy'/);
});
