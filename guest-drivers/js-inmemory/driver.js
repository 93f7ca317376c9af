// Wharf's in-memory storage driver as a JavaScript WebAssembly component (wharf:storage@0.1.0).
//
// The whole namespace lives in the instance's memory. The driver is stateful (the host runs one
// instance and serialises calls), so an upload closed without commit is parked in the instance's
// store, and a later `openWriter(path, true)` through any driver resource with the same
// configuration resumes it.
//
// Parameters: `namespace` (optional; it only tells configurations apart: drivers created with the
// same value share a store) and nothing else.
//
// The host validates every path before a call reaches the guest: a path here is `/`, or `/`
// followed by non-empty components of [A-Za-z0-9._-], and `/` only reaches stat, list and walk.
// On such paths JavaScript's string `<` is byte order.

import { log } from 'wharf:storage/host-log@0.1.0';

// ---------------------------------------------------------------------------------------------
// Errors: a WIT `result` error is thrown as the variant value `{ tag, val }`. Anything else
// thrown out of an export traps (the host then discards the instance and with it every file), so
// every exported method goes through `guarded`, which turns unexpected exceptions into `backend`
// errors.

const notFound = (path) => ({ tag: 'path-not-found', val: path });
const invalidOffset = (path, offset) => ({ tag: 'invalid-offset', val: { path, offset } });
const backend = (message, temporary = false) => ({ tag: 'backend', val: { message, temporary } });

const ERROR_TAGS = new Set([
  'path-not-found',
  'invalid-path',
  'invalid-offset',
  'unsupported',
  'permission-denied',
  'timeout',
  'backend',
]);

function isWitError(e) {
  return e !== null && typeof e === 'object' && ERROR_TAGS.has(e.tag) && 'val' in e;
}

/** Wraps the `result`-returning methods of a class so only WIT errors leave them. */
function guarded(cls, names, statics = []) {
  const wrap = (target, name) => {
    const f = target[name];
    target[name] = function (...args) {
      try {
        return f.apply(this, args);
      } catch (e) {
        if (isWitError(e)) throw e;
        throw backend(`internal error in ${name}: ${e && e.message ? e.message : String(e)}`);
      }
    };
  };
  for (const name of names) wrap(cls.prototype, name);
  for (const name of statics) wrap(cls, name);
  return cls;
}

// ---------------------------------------------------------------------------------------------
// Paths (already valid; see above).

const ROOT = '/';

/** The parent of a path (`/a/b` → `/a`, `/a` → `/`). */
function parent(path) {
  const i = path.lastIndexOf('/');
  return i <= 0 ? ROOT : path.slice(0, i);
}

/** The last component (`/a/b` → `b`). */
function baseName(path) {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The components of a path (`/` → none). */
function components(path) {
  return path === ROOT ? [] : path.slice(1).split('/');
}

/** `dir` joined with a child name. */
function join(dir, name) {
  return dir === ROOT ? `/${name}` : `${dir}/${name}`;
}

/** True when `ancestor` is a strict component-prefix of `path` (`/a` of `/a/b`, not of `/ab`). */
function isAncestor(ancestor, path) {
  if (ancestor === ROOT) return path !== ROOT;
  return path.length > ancestor.length && path.startsWith(ancestor) && path[ancestor.length] === '/';
}

/**
 * The contract's walk order: component-wise byte order (`/a/c` before `/a-b`, because `a` sorts
 * before `a-b`, although as whole strings `/a-b` < `/a/c`). Mapping the separator to a character
 * below every component character makes plain string comparison component-wise.
 */
function walkOrder(a, b) {
  const x = a.replaceAll('/', '\0');
  const y = b.replaceAll('/', '\0');
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Content.

/** Writes shorter than this are copied onto a growing buffer instead of kept as their own chunk. */
const COALESCE_BELOW = 64 << 10;
/** The growing buffer is sealed as a chunk once it reaches this size. */
const CHUNK = 1 << 20;

const EMPTY = new Uint8Array(0);

/**
 * Immutable file content: the chunks it was written in (never changed once here), so appending
 * and committing never copy earlier bytes, and a reader keeps the content it opened.
 */
class Content {
  constructor(chunks, length) {
    this.chunks = chunks;
    this.length = length;
    this.starts = null; // offset of each chunk, computed on the first ranged read
  }

  static of(bytes) {
    return bytes.length === 0 ? new Content([], 0) : new Content([bytes], bytes.length);
  }

  /**
   * The whole content in one buffer. Several chunks are joined once and the joined buffer
   * replaces them (same bytes, so readers sharing this content are unaffected): the next
   * getContent copies nothing, and the chunks are freed.
   */
  bytes() {
    if (this.chunks.length === 0) return EMPTY;
    if (this.chunks.length > 1) {
      const out = new Uint8Array(this.length);
      let at = 0;
      for (const c of this.chunks) {
        out.set(c, at);
        at += c.length;
      }
      this.chunks = [out];
      this.starts = null;
    }
    return this.chunks[0];
  }

  /** Up to `max` bytes from `offset` (empty at the end): a view of one chunk when it holds them. */
  readAt(offset, max) {
    const n = Math.min(max, this.length - offset);
    if (n <= 0) return EMPTY;
    if (this.starts === null) {
      this.starts = new Array(this.chunks.length);
      let at = 0;
      for (let i = 0; i < this.chunks.length; i++) {
        this.starts[i] = at;
        at += this.chunks[i].length;
      }
    }
    // The last chunk starting at or before offset.
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    let i = lo;
    let within = offset - this.starts[i];
    const first = this.chunks[i];
    if (first.length - within >= n) return first.subarray(within, within + n);
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[i++];
      const take = Math.min(c.length - within, n - filled);
      out.set(c.subarray(within, within + take), filled);
      filled += take;
      within = 0;
    }
    return out;
  }
}

/**
 * Content being uploaded: sealed chunks plus a growing buffer for small writes (capacity doubles
 * up to CHUNK), so many small writes cost amortised linear time and few chunks.
 */
class Rope {
  constructor(chunks = [], length = 0) {
    this.chunks = chunks;
    this.length = length;
    this.buf = null;
    this.bufLen = 0;
  }

  /** An upload that continues committed content (its chunks are shared, never changed). */
  static from(content) {
    return new Rope(content.chunks.slice(), content.length);
  }

  push(data) {
    const n = data.length;
    if (n === 0) return;
    this.length += n;
    if (n >= COALESCE_BELOW) {
      this.seal();
      this.chunks.push(data);
      return;
    }
    if (this.buf !== null && this.bufLen + n > this.buf.length) {
      if (this.bufLen + n > CHUNK) {
        this.seal(); // full: a new buffer takes this write
      } else {
        let cap = this.buf.length * 2;
        while (cap < this.bufLen + n) cap *= 2;
        const grown = new Uint8Array(Math.min(cap, CHUNK));
        grown.set(this.buf.subarray(0, this.bufLen));
        this.buf = grown;
      }
    }
    if (this.buf === null) this.buf = new Uint8Array(Math.max(4096, n));
    this.buf.set(data, this.bufLen);
    this.bufLen += n;
  }

  /** Moves the growing buffer into the chunks (trimmed when mostly empty). */
  seal() {
    if (this.buf === null) return;
    if (this.bufLen > 0) {
      this.chunks.push(
        this.bufLen * 2 < this.buf.length ? this.buf.slice(0, this.bufLen) : this.buf.subarray(0, this.bufLen),
      );
    }
    this.buf = null;
    this.bufLen = 0;
  }

  /** The content so far, immutable; later pushes go to new buffers. */
  freeze() {
    this.seal();
    return new Content(this.chunks.slice(), this.length);
  }
}

// ---------------------------------------------------------------------------------------------
// The tree: directories exist only as component-prefixes of files, so a directory left empty is
// removed at once (the root stays).

const EPOCH = Object.freeze({ seconds: 0, nanoseconds: 0 });

class FileNode {
  constructor(content, modTime) {
    this.content = content;
    this.modTime = modTime;
  }
}

class DirNode {
  constructor() {
    this.children = new Map();
    this.sorted = null; // child names in byte order, rebuilt after a change
  }

  names() {
    if (this.sorted === null) this.sorted = [...this.children.keys()].sort();
    return this.sorted;
  }

  set(name, node) {
    if (!this.children.has(name)) this.sorted = null;
    this.children.set(name, node);
  }

  remove(name) {
    if (this.children.delete(name)) this.sorted = null;
  }
}

/** The time of a write. Date.now() needs the `clocks` feature (wasi:clocks/wall-clock). */
function now() {
  const ms = Date.now();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanoseconds: (ms - seconds * 1000) * 1_000_000 };
}

class Store {
  constructor() {
    this.root = new DirNode();
    /** Uploads not committed, by path: `{ rope }`, shared with the writer that has it open. */
    this.uploads = new Map();
  }

  /** The node at a path (the root for `/`), or undefined. Walks components, never prefixes. */
  lookup(path) {
    let node = this.root;
    for (const part of components(path)) {
      if (!(node instanceof DirNode)) return undefined;
      node = node.children.get(part);
      if (node === undefined) return undefined;
    }
    return node;
  }

  file(path) {
    const node = path === ROOT ? undefined : this.lookup(path);
    return node instanceof FileNode ? node : undefined;
  }

  /** The first ancestor of `path` that is a file, if any. */
  fileAncestor(path) {
    let node = this.root;
    let at = '';
    const parts = components(path);
    for (let i = 0; i < parts.length - 1; i++) {
      node = node.children.get(parts[i]);
      at += `/${parts[i]}`;
      if (node === undefined) return undefined;
      if (node instanceof FileNode) return at;
    }
    return undefined;
  }

  /** Fails when `path` cannot hold a file: a directory is there, or a file is a parent. */
  checkFilePath(path) {
    if (this.lookup(path) instanceof DirNode) {
      throw backend(`cannot write ${path}: it is a directory`);
    }
    const blocking = this.fileAncestor(path);
    if (blocking !== undefined) throw backend(`cannot write ${path}: ${blocking} is a file`);
  }

  /** The directory at `path`, creating missing ones (callers checked no file is in the way). */
  makeDirs(path) {
    let dir = this.root;
    for (const part of components(path)) {
      let next = dir.children.get(part);
      if (next === undefined) {
        next = new DirNode();
        dir.set(part, next);
      }
      dir = next;
    }
    return dir;
  }

  /** Makes `content` the file at `path` in one step (one map assignment), creating parents. */
  commitFile(path, content) {
    this.checkFilePath(path);
    this.makeDirs(parent(path)).set(baseName(path), new FileNode(content, now()));
  }

  /** Removes and returns the node at a non-root path, pruning directories left empty. */
  remove(path) {
    const parts = components(path);
    const dirs = [this.root];
    for (let i = 0; i < parts.length - 1; i++) {
      const next = dirs[i].children.get(parts[i]);
      if (!(next instanceof DirNode)) return undefined;
      dirs.push(next);
    }
    const last = dirs[dirs.length - 1];
    const node = last.children.get(parts[parts.length - 1]);
    if (node === undefined) return undefined;
    last.remove(parts[parts.length - 1]);
    for (let i = dirs.length - 1; i > 0 && dirs[i].children.size === 0; i--) {
      dirs[i - 1].remove(parts[i - 1]);
    }
    return node;
  }

  move(source, dest) {
    if (this.lookup(source) === undefined) throw notFound(source);
    if (source === dest) return;
    if (isAncestor(source, dest)) throw backend(`cannot move ${source} into itself (${dest})`);
    // Checked before anything moves, so a failure leaves the tree as it was.
    const blocking = this.fileAncestor(dest);
    if (blocking !== undefined) throw backend(`cannot move ${source} to ${dest}: ${blocking} is a file`);
    const node = this.remove(source);
    this.makeDirs(parent(dest)).set(baseName(dest), node);
  }

  delete(path) {
    if (this.remove(path) === undefined) throw notFound(path);
    for (const p of [...this.uploads.keys()]) {
      if (p === path || isAncestor(path, p)) this.uploads.delete(p);
    }
  }
}

/** Stores by namespace: drivers created with the same configuration share one. */
const stores = new Map();

function storeNamed(namespace) {
  let store = stores.get(namespace);
  if (store === undefined) {
    store = new Store();
    stores.set(namespace, store);
  }
  return store;
}

function fileInfo(path, node) {
  return node instanceof FileNode
    ? { path, size: node.content.length, modTime: node.modTime, isDir: false }
    : { path, size: 0, modTime: EPOCH, isDir: true };
}

// ---------------------------------------------------------------------------------------------
// Walk.

const SKIP = 0; // at or before the resume point, nothing after it underneath
const DESCEND = 1; // not emitted, but entries after the resume point lie underneath
const EMIT = 2; // after the resume point

function position(path, resume) {
  const point = resume.val;
  const order = walkOrder(path, point);
  if (resume.tag === 'after') {
    if (order > 0) return EMIT;
    if (order === 0 || isAncestor(path, point)) return DESCEND;
    return SKIP;
  }
  // after-subtree
  if (order > 0) return isAncestor(point, path) ? SKIP : EMIT;
  if (order < 0 && isAncestor(path, point)) return DESCEND;
  return SKIP;
}

/**
 * The entries under `dir` (at `dirPath`) in walk order, after `resume` (null: all). Once a path
 * is emitted, everything under it is too, so the resume point is only consulted on the way to it.
 */
function* walkEntries(dir, dirPath, resume) {
  const names = dir.names();
  let i = 0;
  if (resume !== null) {
    // Siblings run SKIP…, at most one DESCEND, then EMIT…: binary-search the first non-SKIP.
    let hi = names.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (position(join(dirPath, names[mid]), resume) === SKIP) i = mid + 1;
      else hi = mid;
    }
  }
  for (; i < names.length; i++) {
    const path = join(dirPath, names[i]);
    const node = dir.children.get(names[i]);
    const pos = resume === null ? EMIT : position(path, resume);
    if (pos === SKIP) continue;
    if (pos === EMIT) yield fileInfo(path, node);
    if (node instanceof DirNode) yield* walkEntries(node, path, pos === EMIT ? null : resume);
  }
}

// ---------------------------------------------------------------------------------------------
// The exported resources.

class Driver {
  /** `create: static func(params: list<param>) -> result<driver, error>` */
  static create(params) {
    const values = new Map();
    for (const { key, value } of params) values.set(key.toLowerCase(), value); // last one wins
    for (const key of values.keys()) {
      if (key !== 'namespace') throw backend(`unknown parameter ${key} (accepted: namespace)`);
    }
    const namespace = values.has('namespace') ? values.get('namespace') : null;
    log('debug', `js-inmemory: driver created (namespace ${namespace === null ? 'default' : JSON.stringify(namespace)})`);
    return new Driver(storeNamed(namespace));
  }

  constructor(store) {
    this.store = store;
  }

  getContent(path) {
    const file = this.store.file(path);
    if (file === undefined) throw notFound(path);
    return file.content.bytes();
  }

  putContent(path, content) {
    // `content` is the bindings' fresh copy of the argument: kept as it is, no second copy.
    this.store.commitFile(path, Content.of(content));
  }

  openReader(path, offset) {
    const file = this.store.file(path);
    if (file === undefined) throw notFound(path);
    // A u64 parameter arrives as a BigInt: compared as one, and handed back as one in the
    // error, so a huge offset is reported exactly (a Number would round it).
    const big = BigInt(offset);
    if (big > BigInt(file.content.length)) throw invalidOffset(path, big);
    // The reader keeps the content it opened: a later put or commit replaces the file's
    // content object, never changes it.
    return new Reader(file.content, Number(big));
  }

  openWriter(path, append) {
    const store = this.store;
    let upload;
    if (append) {
      // Resume the parked upload, else continue the committed file (its content stays intact
      // until commit), else there is nothing to resume.
      upload = store.uploads.get(path);
      if (upload === undefined) {
        const file = store.file(path);
        if (file === undefined) throw notFound(path);
        upload = { rope: Rope.from(file.content) };
      }
    } else {
      upload = { rope: new Rope() };
    }
    // Parked at once (replacing an earlier uncommitted upload), so a writer dropped without
    // close leaves its upload resumable, like close.
    store.uploads.set(path, upload);
    return new Writer(store, path, upload);
  }

  stat(path) {
    if (path === ROOT) return fileInfo(ROOT, this.store.root);
    const node = this.store.lookup(path);
    if (node === undefined) throw notFound(path);
    return fileInfo(path, node);
  }

  list(path) {
    const node = this.store.lookup(path);
    if (!(node instanceof DirNode)) throw notFound(path);
    return node.names().map((name) => join(path, name));
  }

  move(source, dest) {
    this.store.move(source, dest);
  }

  delete(path) {
    this.store.delete(path);
  }

  redirectUrl(_method, _path, _expirySeconds) {
    return undefined; // none: serve through the registry
  }

  walk(path, resume, limit) {
    const dir = this.store.lookup(path);
    if (!(dir instanceof DirNode)) throw notFound(path);
    const max = Math.max(1, Number(limit));
    const entries = [];
    const it = walkEntries(dir, path, resume ?? null);
    for (let next = it.next(); !next.done; next = it.next()) {
      entries.push(next.value);
      if (entries.length === max) return { entries, done: it.next().done === true };
    }
    return { entries, done: true };
  }
}
guarded(
  Driver,
  ['getContent', 'putContent', 'openReader', 'openWriter', 'stat', 'list', 'move', 'delete', 'redirectUrl', 'walk'],
  ['create'],
);

class Reader {
  constructor(content, position) {
    this.content = content;
    this.position = position;
  }

  read(max) {
    // An empty chunk means the end, so a request for nothing still gets a byte.
    const chunk = this.content.readAt(this.position, Math.max(1, Number(max)));
    this.position += chunk.length;
    return chunk;
  }
}
guarded(Reader, ['read']);

class Writer {
  constructor(store, path, upload) {
    this.store = store;
    this.path = path;
    this.upload = upload;
    this.state = 'open';
    this.accepted = upload.rope.length;
  }

  refuse(op) {
    return backend(`${op}: writer already ${this.state}`);
  }

  write(data) {
    if (this.state !== 'open') throw this.refuse('write');
    this.upload.rope.push(data);
    this.accepted += data.length;
  }

  size() {
    return this.accepted;
  }

  close() {
    switch (this.state) {
      case 'open': {
        this.state = 'closed';
        // Parked since open; put it back if a delete of the path removed it meanwhile (but
        // never over a newer upload another writer started).
        if (!this.store.uploads.has(this.path)) this.store.uploads.set(this.path, this.upload);
        return;
      }
      case 'committed':
      case 'cancelled':
        return; // only frees resources
      default:
        throw this.refuse('close');
    }
  }

  commit() {
    if (this.state !== 'open') throw this.refuse('commit');
    // commitFile checks before it changes anything, so a refused commit leaves the upload whole.
    this.store.commitFile(this.path, this.upload.rope.freeze());
    this.forget();
    this.state = 'committed';
  }

  cancel() {
    switch (this.state) {
      case 'open':
      case 'closed':
        this.state = 'cancelled';
        this.forget();
        this.upload.rope = new Rope();
        return;
      case 'cancelled':
        return;
      default:
        throw this.refuse('cancel');
    }
  }

  /** Removes this writer's upload from the parked ones (not a newer one at the same path). */
  forget() {
    if (this.store.uploads.get(this.path) === this.upload) this.store.uploads.delete(this.path);
  }
}
guarded(Writer, ['write', 'close', 'commit', 'cancel']);

export const driver = { Driver, Reader, Writer };

export const manifest = {
  describe() {
    return { name: 'js-inmemory', witVersion: '0.1.0', stateful: true, requested: [] };
  },
};
