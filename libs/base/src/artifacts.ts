// Artifacts (checkpoint folders, cached features) between machines, named by URI: a path on a
// shared filesystem (plain or `file://`, the default) or an object in a NATS Object Store
// (`nats-obj://bucket/key`, implemented by @fidlab/artifacts-nats, so that nothing here imports
// NATS). One small `BlobBackend` per medium moves whole files by key; `ArtifactStore` above it
// validates keys, writes folder manifests and verifies the sha256 of every byte it reads back.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCode, FidlabError } from './errors.js';

/** What a put returns and a get needs: where, and the sha256 / size to verify against. */
export interface ArtifactRef {
  /** The artifact's URI; one ending in `/` names a folder (its manifest, then its files). */
  uri: string;
  /** sha256 (hex) of the file, or of a folder's manifest (which lists every file's sha256). */
  sha256: string;
  bytes: number;
}

/** Moves whole files by validated key. Implementations: `FsBlobBackend`, NATS Object Store. */
export interface BlobBackend {
  /** The URI of a key (`file:///shared/artifacts/<key>`, `nats-obj://bucket/<key>`). */
  uri(key: string): string;
  /** The key of a URI of this backend; null when the URI is not one of its. Not yet validated. */
  keyOf(uri: string): string | null;
  write(key: string, file: string): Promise<void>;
  /** Copies the object to `file`; FidlabError NOT_FOUND when there is none. */
  read(key: string, file: string): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Refuses a key that could leave the artifact root: absolute keys, `..`/`.` segments, empty
 * segments, backslashes, `%` (encoded variants such as `%2e%2e%2f` are decoded once when a URI is
 * parsed; what is left must be plain) and anything but `[A-Za-z0-9._-]` in a segment.
 */
export function validateArtifactKey(key: string): string {
  const bad = (why: string) =>
    new FidlabError(ErrorCode.INVALID_CONFIG, `artifact key '${key}': ${why}`);
  if (key.length === 0 || key.length > 1024) throw bad('must be 1 to 1024 characters');
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) throw bad('must be relative');
  const segments = key.replace(/\/$/, '').split('/');
  for (const s of segments) {
    if (s === '..' || s === '.') throw bad(`segment '${s}' leaves or names the root`);
    if (!SEGMENT.test(s)) throw bad(`segment '${s}' must match ${SEGMENT.source}`);
  }
  return key;
}

/** sha256 (hex) and size of a file, streamed. */
export async function sha256OfFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

interface Manifest {
  fidlabArtifactFolder: 1;
  files: { path: string; sha256: string; bytes: number }[];
}

const MANIFEST = 'MANIFEST.json';

/** Puts and gets files and folders through a backend; every read is verified. */
export class ArtifactStore {
  constructor(readonly backend: BlobBackend) {}

  /** Stores one file under `key`. */
  async putFile(key: string, file: string): Promise<ArtifactRef> {
    validateArtifactKey(key);
    if (key.endsWith('/'))
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `artifact key '${key}': a file key cannot end with '/'`,
      );
    const { sha256, bytes } = await sha256OfFile(file);
    await this.backend.write(key, file);
    return { uri: this.backend.uri(key), sha256, bytes };
  }

  /**
   * Stores a folder (recursively) under `key/`: every file at `key/<path>`, then the manifest
   * (each file's path, sha256, size) at `key/MANIFEST.json`; the ref's sha256 is the manifest's.
   */
  async putFolder(key: string, dir: string): Promise<ArtifactRef> {
    const base = validateArtifactKey(key.replace(/\/$/, ''));
    const files: Manifest['files'] = [];
    for (const path of await listFiles(dir)) {
      const rel = path.split(sep).join('/');
      validateArtifactKey(`${base}/${rel}`);
      const { sha256, bytes } = await sha256OfFile(join(dir, path));
      await this.backend.write(`${base}/${rel}`, join(dir, path));
      files.push({ path: rel, sha256, bytes });
    }
    const manifest: Manifest = { fidlabArtifactFolder: 1, files };
    const tmp = join(dirname(dir), `.manifest-${randomUUID()}.json`);
    const body = JSON.stringify(manifest);
    await writeFile(tmp, body);
    try {
      await this.backend.write(`${base}/${MANIFEST}`, tmp);
    } finally {
      await rm(tmp, { force: true });
    }
    return {
      uri: this.backend.uri(`${base}/`),
      sha256: createHash('sha256').update(body).digest('hex'),
      bytes: files.reduce((s, f) => s + f.bytes, 0),
    };
  }

  /**
   * Copies the artifact to `dest` (a file path for a file, a folder for a folder) and verifies
   * it: a sha256 mismatch is FidlabError ARTIFACT_MISMATCH naming the URI, expected and actual.
   * Nothing is left at `dest` when verification fails. Returns `dest`.
   */
  async get(ref: ArtifactRef, dest: string): Promise<string> {
    const key = this.keyOf(ref.uri);
    await mkdir(dirname(resolve(dest)), { recursive: true });
    if (!key.endsWith('/')) {
      await this.fetchVerified(key, dest, ref.sha256, ref.uri);
      return dest;
    }
    const tmp = `${resolve(dest)}.partial-${randomUUID()}`;
    try {
      await mkdir(tmp, { recursive: true });
      const manifestFile = join(tmp, `.${MANIFEST}`);
      await this.fetchVerified(`${key}${MANIFEST}`, manifestFile, ref.sha256, ref.uri);
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
      await rm(manifestFile);
      for (const f of manifest.files) {
        validateArtifactKey(`${key}${f.path}`);
        await this.fetchVerified(
          `${key}${f.path}`,
          join(tmp, f.path),
          f.sha256,
          `${ref.uri}${f.path}`,
        );
      }
      await rm(dest, { recursive: true, force: true });
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dest;
  }

  /** Reads the artifact into a scratch folder and checks every sha256; throws as `get` does. */
  async verify(ref: ArtifactRef, scratchDir: string): Promise<void> {
    const dest = join(scratchDir, `verify-${randomUUID()}`);
    try {
      await this.get(ref, dest);
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  }

  /** The validated key of one of this store's URIs (percent-encoding decoded once). */
  keyOf(uri: string): string {
    const key = this.backend.keyOf(uri);
    if (key === null)
      throw new FidlabError(
        ErrorCode.INVALID_CONFIG,
        `artifact URI '${uri}' is not in this store (${this.backend.uri('')})`,
      );
    return validateArtifactKey(key);
  }

  private async fetchVerified(key: string, file: string, sha256: string, uri: string) {
    await mkdir(dirname(file), { recursive: true });
    await this.backend.read(key, file);
    const actual = await sha256OfFile(file);
    if (actual.sha256 !== sha256) {
      await rm(file, { force: true });
      throw new FidlabError(
        ErrorCode.ARTIFACT_MISMATCH,
        `artifact ${uri}: sha256 mismatch (expected ${sha256}, got ${actual.sha256}, ${actual.bytes} bytes)`,
      );
    }
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = prefix ? join(prefix, e.name) : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Files under a root folder on a (shared) filesystem; keys are paths below the root. */
export class FsBlobBackend implements BlobBackend {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  uri(key: string): string {
    const u = pathToFileURL(join(this.root, key)).href;
    return key === '' || key.endsWith('/') ? u.replace(/\/?$/, '/') : u;
  }

  keyOf(uri: string): string | null {
    let path: string;
    if (uri.startsWith('file://')) {
      try {
        path = fileURLToPath(uri); // decodes %xx once
      } catch {
        return null;
      }
    } else if (uriScheme(uri) !== null) return null;
    else path = uri;
    const folder = uri.endsWith('/');
    const abs = resolve(this.root, path);
    const rel = relative(this.root, abs);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      // Outside the root: hand back the raw text so that validation names it.
      return isAbsolute(path) ? path : path.replace(/\\/g, '/');
    }
    return rel.split(sep).join('/') + (folder ? '/' : '');
  }

  private path(key: string): string {
    validateArtifactKey(key);
    return join(this.root, key);
  }

  async write(key: string, file: string): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomUUID()}`;
    await copyFile(file, tmp);
    await rename(tmp, target);
  }

  async read(key: string, file: string): Promise<void> {
    const source = this.path(key);
    try {
      await stat(source);
    } catch {
      throw new FidlabError(ErrorCode.NOT_FOUND, `artifact ${this.uri(key)}: not found`);
    }
    await copyFile(source, file);
  }
}

/** The scheme of a URI (`nats-obj`, `file`), lower-cased; null for a plain path. */
export function uriScheme(s: string): string | null {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(s)?.[1].toLowerCase() ?? null;
}

/** Fills in progress in this process, by destination folder (see cachedFolder). */
const filling = new Map<string, Promise<string>>();

/**
 * A folder at `dest` made once (a cache entry named by what it holds, e.g. a sha256): when it is
 * missing, `fill` writes a temporary sibling, which is moved in only if no copy has appeared
 * meanwhile, so a process never replaces a copy another one is reading. Concurrent callers in
 * this process share one fill. Resolves to `dest`; a failed fill leaves nothing behind.
 */
export function cachedFolder(dest: string, fill: (tmp: string) => Promise<void>): Promise<string> {
  const at = resolve(dest);
  if (existsSync(at)) return Promise.resolve(at);
  let p = filling.get(at);
  if (!p) {
    p = (async () => {
      const tmp = `${at}.partial-${randomUUID()}`;
      try {
        await mkdir(dirname(at), { recursive: true });
        await fill(tmp);
        await rename(tmp, at).catch((e: unknown) => {
          if (!existsSync(at)) throw e;
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return at;
    })().finally(() => filling.delete(at));
    filling.set(at, p);
  }
  return p;
}

/** A backend for URIs of another scheme (`nats-obj`), registered by the adapter that has it. */
export type BackendFactory = (uri: string) => BlobBackend | Promise<BlobBackend>;

/**
 * The store an artifact root URI names: a plain path or `file://` URI gives `FsBlobBackend`;
 * other schemes need a factory in `factories` (e.g. `{ 'nats-obj': ... }` from the NATS adapter).
 */
export async function openArtifactStore(
  rootUri: string,
  factories: Record<string, BackendFactory> = {},
): Promise<ArtifactStore> {
  const scheme = uriScheme(rootUri);
  if (!scheme) return new ArtifactStore(new FsBlobBackend(rootUri));
  if (scheme === 'file') return new ArtifactStore(new FsBlobBackend(fileURLToPath(rootUri)));
  const factory = factories[scheme];
  if (!factory)
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `artifact root '${rootUri}': unknown scheme '${scheme}' (known: file, ${Object.keys(factories).join(', ') || 'none other here'})`,
    );
  return new ArtifactStore(await factory(rootUri));
}
