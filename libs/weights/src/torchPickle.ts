import { ErrorCode, FidlabError, ZipReader } from '@fidlab/base';
import { DTYPE_BYTES, stridedToFloat32 } from './dtypes.js';
import { PyDict, unpickle, type PyGlobal } from './pickle.js';
import type { StateDict } from './types.js';

/**
 * PyTorch's two `torch.save` formats, read without Python:
 *  - zip (torch >= 1.6): `<archive>/data.pkl` pickles the object with persistent ids
 *    ('storage', StorageType, key, location, numel) and each storage's raw bytes sit in
 *    `<archive>/data/<key>`; `<archive>/byteorder` says 'little' or 'big'.
 *  - legacy (older torch, or `_use_new_zipfile_serialization=False`): pickles back to back:
 *    magic number, protocol version 1001, sys_info, the object (same persistent ids, plus an
 *    optional view (key, offset, numel) in old files), the sorted storage keys; then per key an
 *    int64 element count and the raw bytes.
 * Tensors are rebuilt by `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.
 */

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** A storage referenced by the pickle: its bytes come later (legacy) or from the zip. */
interface StorageRef {
  key: string;
  dtype: string;
  numel: number;
  /** Element offset into the root storage (old files' storage views). */
  viewOffset: number;
}

/** What `_rebuild_tensor_v2` returns here: a view to materialize once the bytes are known. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly strides: number[],
    /** The storage's dtype, unless _rebuild_tensor_v3 names another (untyped byte storages). */
    readonly dtype: string,
  ) {}
}

const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

const TORCH_DTYPES: Record<string, string> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

class StorageType implements PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly dtype: string,
  ) {}
}

class DtypeValue implements PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly dtype: string,
  ) {}
}

function asInt(x: unknown, what: string, file: string): number {
  if (typeof x === 'number' && Number.isInteger(x)) return x;
  if (typeof x === 'bigint' && x <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(x);
  throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: ${what} is not an integer`);
}

function intList(x: unknown, what: string, file: string): number[] {
  if (!Array.isArray(x))
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: ${what} is not a tuple`);
  return x.map((v) => asInt(v, what, file));
}

/** The allow-list: every global a state_dict pickle may name, and what it becomes. */
function torchGlobals(file: string): (module: string, name: string) => PyGlobal | undefined {
  const rebuildTensor = (args: unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    const dtype = args[6] instanceof DtypeValue ? args[6].dtype : undefined; // v3 only
    if (!(storage && typeof storage === 'object' && 'key' in storage)) {
      throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: tensor without a storage`);
    }
    const ref = storage as StorageRef;
    return new TensorRef(
      ref,
      asInt(offset, 'storage offset', file) + ref.viewOffset,
      intList(size, 'tensor size', file),
      intList(stride, 'tensor stride', file),
      dtype ?? ref.dtype,
    );
  };
  const fn = (module: string, name: string, call: (args: unknown[]) => unknown): PyGlobal => ({
    module,
    name,
    call,
  });
  return (module, name) => {
    const full = `${module}.${name}`;
    switch (full) {
      case 'collections.OrderedDict':
      case 'builtins.dict':
      case '__builtin__.dict':
        return fn(module, name, (args) => {
          const d = new PyDict();
          // OrderedDict([(k, v), ...]) in old protocols; usually called with no arguments.
          if (Array.isArray(args[0]))
            for (const kv of args[0] as unknown[][]) d.items.set(kv[0], kv[1]);
          return d;
        });
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor_v3':
        return fn(module, name, rebuildTensor);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor.
        return fn(module, name, (args) => args[0]);
      case 'torch._utils._rebuild_from_type_v2':
        // (func, new_type, args, state): subclasses (Parameter) rebuilt as plain tensors.
        return fn(module, name, (args) => {
          const f = args[0] as PyGlobal;
          if (!f || typeof f.call !== 'function') {
            throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: bad _rebuild_from_type_v2`);
          }
          return f.call(args[2] as unknown[]);
        });
      case 'torch.Size':
        return fn(module, name, (args) => (Array.isArray(args[0]) ? args[0] : []));
      case 'torch.device':
        return fn(module, name, (args) => String(args[0]));
      case '_codecs.encode':
        // How protocol 2 pickles Python 3 bytes: encode(latin-1 text, 'latin1').
        return fn(module, name, (args) =>
          Uint8Array.from(String(args[0]), (c) => c.charCodeAt(0) & 0xff),
        );
      case 'builtins.set':
      case 'builtins.frozenset':
      case '__builtin__.set':
        return fn(module, name, (args) => (Array.isArray(args[0]) ? [...args[0]] : []));
      case 'torch.Tensor':
      case 'torch._tensor.Tensor':
      case 'torch.nn.parameter.Parameter':
        return { module, name };
    }
    if ((module === 'torch' || module === 'torch.cuda') && name in STORAGE_DTYPES) {
      return new StorageType(module, name, STORAGE_DTYPES[name]);
    }
    if (module === 'torch' && name in TORCH_DTYPES)
      return new DtypeValue(module, name, TORCH_DTYPES[name]);
    return undefined;
  };
}

/**
 * Turns a persistent id tuple into a StorageRef, registering it under its key so that the
 * loader knows each storage's dtype when it reads the bytes.
 */
function storageLoader(
  file: string,
  storages: Map<string, StorageRef>,
): (pid: unknown) => StorageRef {
  return (pid) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      const kind = Array.isArray(pid) ? String(pid[0]) : typeof pid;
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${file}: persistent id '${kind}' is not a tensor storage (the file pickles a whole ` +
          `module or other objects; save model.state_dict() instead)`,
      );
    }
    const [, type, rawKey, , rawNumel, view] = pid as unknown[];
    if (!(type instanceof StorageType)) {
      throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: storage of unknown type`);
    }
    const key = String(rawKey);
    const numel = asInt(rawNumel, 'storage size', file);
    let root = storages.get(key);
    if (!root) {
      root = { key, dtype: type.dtype, numel, viewOffset: 0 };
      storages.set(key, root);
    }
    if (Array.isArray(view) && view.length === 3) {
      // Old legacy files: a view (view_key, offset, numel) into the root storage.
      return { ...root, viewOffset: asInt(view[1], 'storage view offset', file) };
    }
    return root;
  };
}

/** Walks the unpickled object and materializes every tensor, with dotted names for nesting. */
function collect(
  obj: unknown,
  bytesOf: (ref: StorageRef) => Uint8Array,
  littleEndian: boolean,
  file: string,
): StateDict {
  const out: StateDict = new Map();
  const walk = (v: unknown, name: string): void => {
    if (v instanceof TensorRef) {
      const bytes = bytesOf(v.storage);
      const data = stridedToFloat32(bytes, v.dtype, v.offset, v.shape, v.strides, {
        littleEndian,
        what: `${file}: '${name}'`,
      });
      out.set(name, { shape: v.shape, dtype: v.dtype, data });
    } else if (v instanceof PyDict) {
      for (const [k, x] of v.items) walk(x, name === '' ? String(k) : `${name}.${String(k)}`);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, name === '' ? String(i) : `${name}.${i}`));
    }
  };
  walk(unwrap(obj), '');
  return out;
}

/** Keys under which training scripts commonly nest a state_dict ({'state_dict': sd, 'epoch': 3}). */
const WRAPPER_KEYS = [
  'state_dict',
  'model_state_dict',
  'model',
  'net',
  'params_ema',
  'params',
  'ema',
];

function hasTensors(v: unknown, depth = 0): boolean {
  if (v instanceof TensorRef) return true;
  if (depth > 8) return false;
  if (v instanceof PyDict) return [...v.items.values()].some((x) => hasTensors(x, depth + 1));
  if (Array.isArray(v)) return v.some((x) => hasTensors(x, depth + 1));
  return false;
}

/**
 * A checkpoint dict whose top level holds no tensors but one of WRAPPER_KEYS holds a dict of
 * them yields that dict; anything else is flattened with dotted names.
 */
function unwrap(obj: unknown): unknown {
  if (!(obj instanceof PyDict)) return obj;
  if ([...obj.items.values()].some((v) => v instanceof TensorRef)) return obj;
  for (const k of WRAPPER_KEYS) {
    const v = obj.items.get(k);
    if (v instanceof PyDict && hasTensors(v)) return v;
  }
  return obj;
}

/** Reads a torch >= 1.6 zip checkpoint already in memory. */
export function readTorchZip(buf: Uint8Array, file: string): StateDict {
  const zip = new ZipReader(buf, file);
  const pkl =
    zip.names().find((n) => /^[^/]+\/data\.pkl$/.test(n)) ??
    zip.names().find((n) => n.endsWith('data.pkl'));
  if (!pkl) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${file}: a zip file but not a PyTorch checkpoint (no <archive>/data.pkl entry)`,
    );
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  let littleEndian = true;
  if (zip.has(`${prefix}byteorder`)) {
    littleEndian = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() !== 'big';
  }
  const storages = new Map<string, StorageRef>();
  const { value } = unpickle(zip.read(pkl), {
    file,
    findGlobal: torchGlobals(file),
    persistentLoad: storageLoader(file, storages),
  });
  const cache = new Map<string, Uint8Array>();
  const bytesOf = (ref: StorageRef): Uint8Array => {
    let b = cache.get(ref.key);
    if (!b) {
      const entry = `${prefix}data/${ref.key}`;
      if (!zip.has(entry)) {
        throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: storage '${entry}' missing`);
      }
      b = zip.read(entry);
      cache.set(ref.key, b);
    }
    return b;
  };
  return collect(value, bytesOf, littleEndian, file);
}

/** Reads a legacy (pre-1.6 style) checkpoint already in memory. */
export function readTorchLegacy(buf: Uint8Array, file: string): StateDict {
  const plain = { file, findGlobal: torchGlobals(file) };
  const magic = unpickle(buf, plain, 0);
  if (magic.value !== LEGACY_MAGIC) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${file}: a pickle but not a torch.save file (magic number missing); plain pickles of ` +
        `numpy arrays are not supported`,
    );
  }
  const proto = unpickle(buf, plain, magic.end);
  if (proto.value !== LEGACY_PROTOCOL) {
    throw new FidlabError(
      ErrorCode.BAD_FILE_FORMAT,
      `${file}: torch.save protocol ${String(proto.value)} (expected ${LEGACY_PROTOCOL})`,
    );
  }
  const sysInfo = unpickle(buf, plain, proto.end);
  // Storages are little-endian whatever sys_info says: torch converts on big-endian machines
  // when writing, and its loader reads little-endian (torch/csrc/generic/serialization.cpp).
  const littleEndian = true;
  const storages = new Map<string, StorageRef>();
  const main = unpickle(
    buf,
    { ...plain, persistentLoad: storageLoader(file, storages) },
    sysInfo.end,
  );
  const keysPickle = unpickle(buf, plain, main.end);
  if (!Array.isArray(keysPickle.value)) {
    throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: storage key list missing`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const data = new Map<string, Uint8Array>();
  let pos = keysPickle.end;
  for (const rawKey of keysPickle.value as unknown[]) {
    const key = String(rawKey);
    const ref = storages.get(key);
    if (!ref)
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${file}: storage '${key}' never referenced`,
      );
    if (pos + 8 > buf.length) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${file}: truncated before storage '${key}'`,
      );
    }
    const numel = Number(view.getBigInt64(pos, littleEndian));
    pos += 8;
    const nbytes = numel * DTYPE_BYTES[ref.dtype];
    if (pos + nbytes > buf.length) {
      throw new FidlabError(
        ErrorCode.BAD_FILE_FORMAT,
        `${file}: storage '${key}' (${numel} ${ref.dtype}) runs past the end of the file (truncated download?)`,
      );
    }
    data.set(key, buf.subarray(pos, pos + nbytes));
    pos += nbytes;
  }
  return collect(
    main.value,
    (ref) => {
      const b = data.get(ref.key);
      if (!b)
        throw new FidlabError(ErrorCode.BAD_FILE_FORMAT, `${file}: storage '${ref.key}' missing`);
      return b;
    },
    littleEndian,
    file,
  );
}
