import { ErrorCode, FidlabError } from '@fidlab/base';

/**
 * A safe subset of Python's unpickler (protocols 0-5), enough for PyTorch state_dicts.
 *
 * Python values map to JS as: None -> null, bool -> boolean, int -> number (bigint past 2^53),
 * float -> number, str -> string, bytes -> Uint8Array, list/tuple -> array, dict -> PyDict.
 * Globals are never imported: every GLOBAL/STACK_GLOBAL is looked up in the caller's allow-list,
 * and anything else stops the load with the file, the global and the byte offset, which is what
 * makes reading an untrusted .pth safe (the same idea as torch.load(weights_only=True)).
 */

/** A Python dict (insertion-ordered, as OrderedDict and CPython dicts are). */
export class PyDict {
  readonly items = new Map<unknown, unknown>();
  /** Attributes set by BUILD, e.g. the `_metadata` PyTorch attaches to a state_dict. */
  attrs: unknown = undefined;
}

/** What an allow-listed global turns into when called (REDUCE, NEWOBJ) or used as a value. */
export interface PyGlobal {
  readonly module: string;
  readonly name: string;
  /** Called for REDUCE and NEWOBJ; absent for globals that are only ever values (dtypes, storage types). */
  call?(args: unknown[]): unknown;
}

export interface UnpickleOptions {
  /** File name for error messages. */
  file: string;
  /** Allow-list: returns the global or undefined when `module.name` is not allowed. */
  findGlobal(module: string, name: string): PyGlobal | undefined;
  /** BINPERSID / PERSID handler (PyTorch's storages). Without it, persistent ids are an error. */
  persistentLoad?(pid: unknown): unknown;
}

const OPNAMES: Record<number, string> = {
  0x28: 'MARK',
  0x2e: 'STOP',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4c: 'LONG',
  0x4d: 'BININT2',
  0x4e: 'NONE',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x52: 'REDUCE',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x58: 'BINUNICODE',
  0x61: 'APPEND',
  0x62: 'BUILD',
  0x63: 'GLOBAL',
  0x64: 'DICT',
  0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS',
  0x67: 'GET',
  0x68: 'BINGET',
  0x69: 'INST',
  0x6a: 'LONG_BINGET',
  0x6c: 'LIST',
  0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ',
  0x70: 'PUT',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x73: 'SETITEM',
  0x74: 'TUPLE',
  0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS',
  0x47: 'BINFLOAT',
  0x80: 'PROTO',
  0x81: 'NEWOBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL',
  0x94: 'MEMOIZE',
  0x95: 'FRAME',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** Little-endian two's-complement integer of `bytes` (LONG1/LONG4), as number when it is safe. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return narrow(v);
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/**
 * Reads one pickle starting at `offset` of `buf`; returns the value and the offset after STOP
 * (PyTorch's legacy format is several pickles back to back, followed by raw storages).
 */
export function unpickle(
  buf: Uint8Array,
  opts: UnpickleOptions,
  offset = 0,
): { value: unknown; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = offset;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  let opPos = offset;
  let op = 0;
  const fail = (what: string): never => {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${opts.file}: ${what} (pickle opcode ${OPNAMES[op] ?? '?'} 0x${op.toString(16).padStart(2, '0')} at byte ${opPos})`,
    );
  };
  const need = (n: number): void => {
    if (pos + n > buf.length) fail('truncated pickle');
  };
  const u8 = (): number => {
    need(1);
    return buf[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = latin1.decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const str = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('invalid UTF-8 in string');
    }
  };
  const parseInteger = (s: string): number | bigint => {
    if (!/^[-+]?\d+$/.test(s.trim())) fail(`bad integer '${s}'`);
    return narrow(BigInt(s.trim()));
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail('MARK missing');
    stack = prev!;
    return items;
  };
  const findGlobal = (module: string, name: string): PyGlobal => {
    const g = opts.findGlobal(module, name);
    if (!g) {
      fail(
        `global '${module}.${name}' is not allowed: fidlab reads plain state_dicts (tensors, dicts, ` +
          `numbers, strings); save model.state_dict() rather than the model object`,
      );
    }
    return g!;
  };
  const callable = (f: unknown): PyGlobal => {
    const g = f as PyGlobal;
    if (typeof g !== 'object' || g === null || typeof g.call !== 'function') {
      const name = typeof g === 'object' && g && 'name' in g ? `${g.module}.${g.name}` : typeof f;
      fail(`'${name}' cannot be called here`);
    }
    return g;
  };
  const setItems = (d: unknown, kv: unknown[]): void => {
    if (!(d instanceof PyDict)) fail('SETITEM(S) on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2) (d as PyDict).items.set(dictKey(kv[i]), kv[i + 1]);
  };
  const appendItems = (l: unknown, xs: unknown[]): void => {
    if (!Array.isArray(l)) fail('APPEND(S) on a non-list');
    for (const x of xs) (l as unknown[]).push(x);
  };
  const persistent = (pid: unknown): unknown => {
    if (!opts.persistentLoad) fail('persistent id without a persistent_load handler');
    return opts.persistentLoad!(pid);
  };

  for (;;) {
    opPos = pos;
    op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: framing is only a read-ahead hint
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length > 0) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0) fail('negative LONG4 length');
        stack.push(decodeLong(bytes(n)));
        break;
      }
      case 0x49: {
        // INT (protocol 0): '00'/'01' are False/True
        const s = line();
        if (s === '00' || s === '01') stack.push(s === '01');
        else stack.push(parseInteger(s));
        break;
      }
      case 0x4c: // LONG (protocol 0): digits with a trailing 'L'
        stack.push(parseInteger(line().replace(/L$/, '')));
        break;
      case 0x46: // FLOAT (protocol 0)
        stack.push(Number(line()));
        break;
      case 0x47: // BINFLOAT: big-endian double
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(str(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(bytes(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(bytes(u64())));
        break;
      case 0x56: // UNICODE (protocol 0, raw-unicode-escape: \uXXXX and \UXXXXXXXX escapes)
        stack.push(
          line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u: string, w: string) =>
            String.fromCodePoint(parseInt(u ?? w, 16)),
          ),
        );
        break;
      case 0x53: {
        // STRING (protocol 0): a quoted Python 2 str
        const s = line();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x54: {
        // BINSTRING: Python 2 str, read as latin-1 text (what encoding='latin1' does in Python 3)
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0) fail('negative BINSTRING length');
        stack.push(latin1.decode(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(bytes(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
        {
          const items = popMark(); // before `stack.push`: popMark replaces `stack`
          stack.push(items);
        }
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        {
          const items = popMark(); // before `stack.push`: popMark replaces `stack`
          stack.push(items);
        }
        break;
      case 0x61: {
        // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: {
        // APPENDS
        const xs = popMark();
        appendItems(top(), xs);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const kv = popMark();
        const d = new PyDict();
        setItems(d, kv);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x8f: // EMPTY_SET: sets never hold weights; keep them as arrays
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const xs = popMark();
        appendItems(top(), xs);
        break;
      }
      case 0x91: // FROZENSET
        {
          const items = popMark(); // before `stack.push`: popMark replaces `stack`
          stack.push(items);
        }
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: // GET
        stack.push(memoGet(Number(line())));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          fail('STACK_GLOBAL needs two strings');
        stack.push(findGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = callable(pop());
        if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
        stack.push(f.call!(args as unknown[]));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); the allow-listed classes build themselves from args
        const args = pop();
        const cls = callable(pop());
        stack.push(cls.call!(args as unknown[]));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = callable(pop());
        stack.push(cls.call!(args as unknown[]));
        break;
      }
      case 0x62: {
        // BUILD: attach state; only dicts and plain objects carry it
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attrs = state;
        else if (typeof obj === 'object' && obj !== null)
          (obj as { state?: unknown }).state = state;
        else fail('BUILD on a non-object');
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID
        stack.push(persistent(line()));
        break;
      default:
        fail('unsupported opcode');
    }
  }

  function memoGet(i: number): unknown {
    if (!memo.has(i)) fail(`memo key ${i} missing`);
    return memo.get(i);
  }
}

/** Python dict keys: tuples (arrays) become their string form so lookups by value work. */
function dictKey(k: unknown): unknown {
  return Array.isArray(k)
    ? JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
    : k;
}
