import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode, isFidlabError } from '@fidlab/base';
import { FIXTURES } from '../test/torchFixtures.js';
import { PyDict, unpickle, type PyGlobal } from './pickle.js';

/** Python values pickled by CPython with protocols 0-5 (tools/fixtures/make_torch_weights.py). */
const fixture = JSON.parse(readFileSync(join(FIXTURES, 'pickles.json'), 'utf8')) as {
  cases: { protocol: number; hex: string }[];
  value: unknown;
};

const globals = (module: string, name: string): PyGlobal | undefined => {
  if (module === 'collections' && name === 'OrderedDict') {
    return { module, name, call: () => new PyDict() };
  }
  if (module === '_codecs' && name === 'encode') {
    return {
      module,
      name,
      call: (args) => Uint8Array.from(String(args[0]), (c) => c.charCodeAt(0)),
    };
  }
  return undefined;
};

/** Compares an unpickled value with the JSON form the generator wrote. */
function match(actual: unknown, expected: unknown, path: string): void {
  if (expected === null || typeof expected === 'boolean' || typeof expected === 'string') {
    assert.equal(actual, expected, path);
  } else if (typeof expected === 'number') {
    assert.ok(typeof actual === 'number' && actual === expected, `${path}: ${String(actual)}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path} is not an array`);
    assert.equal(actual.length, expected.length, `${path} length`);
    expected.forEach((e, i) => match(actual[i], e, `${path}[${i}]`));
  } else {
    const e = expected as Record<string, unknown>;
    if ('__int__' in e) assert.equal(actual, BigInt(e.__int__ as string), path);
    else if ('__float__' in e) assert.ok(Object.is(actual, Number(e.__float__)), path);
    else if ('__bytes__' in e) {
      assert.ok(actual instanceof Uint8Array, `${path} is not bytes`);
      assert.equal(Buffer.from(actual).toString('hex'), e.__bytes__, path);
    } else {
      assert.ok(actual instanceof PyDict, `${path} is not a dict`);
      const items = e.__dict__ as [unknown, unknown][];
      assert.deepEqual(
        [...actual.items.keys()],
        items.map(([k]) => k),
        `${path} keys`,
      );
      for (const [k, v] of items) match(actual.items.get(k), v, `${path}.${String(k)}`);
    }
  }
}

describe('unpickle', () => {
  for (const { protocol, hex } of fixture.cases) {
    it(`reads CPython protocol ${protocol}: ints (big too), floats, text, bytes, tuples, memo`, () => {
      const buf = Buffer.from(hex, 'hex');
      const { value, end } = unpickle(buf, { file: 'p.pkl', findGlobal: globals });
      assert.equal(end, buf.length, 'stops right after STOP');
      match(value, fixture.value, 'value');
      const shared = (value as PyDict).items.get('shared') as unknown[];
      assert.equal(shared[0], shared[1], 'a memoized object is the same object');
    });
  }

  it('reads pickles back to back from an offset (legacy torch files)', () => {
    const a = Buffer.from('80024b2a2e', 'hex'); // PROTO 2, BININT1 42, STOP
    const b = Buffer.from('8002580200000068692e', 'hex'); // PROTO 2, BINUNICODE 'hi', STOP
    const buf = Buffer.concat([a, b]);
    const first = unpickle(buf, { file: 'x', findGlobal: globals });
    assert.deepEqual(first, { value: 42, end: a.length });
    assert.deepEqual(unpickle(buf, { file: 'x', findGlobal: globals }, first.end), {
      value: 'hi',
      end: buf.length,
    });
  });

  const fails = (hex: string, ...parts: string[]) => {
    assert.throws(
      () => unpickle(Buffer.from(hex, 'hex'), { file: 'f.pth', findGlobal: globals }),
      (e: unknown) => {
        assert.ok(isFidlabError(e) && e.code === ErrorCode.BAD_FILE_FORMAT);
        for (const p of parts) assert.ok(e.message.includes(p), `'${e.message}' lacks '${p}'`);
        return true;
      },
    );
  };

  it('errors name the file, the problem, the opcode and the byte offset', () => {
    fails('8002ff', 'f.pth: unsupported opcode', '0xff at byte 2');
    fails('80024b', 'truncated pickle', 'BININT1');
    fails('800268052e', 'memo key 5 missing', 'BINGET');
    fails('80022e', 'stack underflow', 'STOP');
    fails('80024b0151', 'persistent id without a persistent_load handler', 'BINPERSID');
    // STACK_GLOBAL 'builtins' 'eval'
    fails(
      '80048c086275696c74696e738c046576616c93',
      "global 'builtins.eval' is not allowed",
      'STACK_GLOBAL',
    );
    // EMPTY_TUPLE, EMPTY_TUPLE, REDUCE: calling something that is not an allow-listed global
    fails('8002292952', 'cannot be called', 'REDUCE');
  });
});
