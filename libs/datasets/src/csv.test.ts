import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCsv, parseCsv } from './csv.js';

test('parses quotes, escaped quotes, CRLF, a BOM and blank lines', () => {
  const text = '\ufeffphoto,sketch\r\n"a,b.png","say ""hi"""\r\n\r\nc.png,d.png';
  assert.deepEqual(parseCsv(text), [
    ['photo', 'sketch'],
    ['a,b.png', 'say "hi"'],
    ['c.png', 'd.png'],
  ]);
});

test('formatCsv round-trips through parseCsv', () => {
  const rows = [
    ['x', 'y,z'],
    ['"q"', 'line\nbreak'],
  ];
  assert.deepEqual(parseCsv(formatCsv(rows)), rows);
});
