"""Wharf's in-memory storage driver as a Python WebAssembly component (wharf:storage@0.2.0).

The whole namespace lives in the instance's memory. The driver is stateful (the host runs one
instance and serialises calls), so an upload closed without commit is parked in the instance's
store, and a later ``open_writer(path, True)`` through any driver resource with the same
configuration resumes it.

Parameters: ``namespace`` (optional; it only tells configurations apart: drivers created with the
same value share a store) and nothing else.

The host validates every path before a call reaches the guest: a path here is ``/``, or ``/``
followed by non-empty components of ``[A-Za-z0-9._-]``, and ``/`` only reaches stat, list and
walk. On such (ASCII) paths Python's string order is byte order.

How the bindings map (componentize-py, see build.sh): this module is both the app and the
implementation of the exported interface ``driver`` (build.sh names that interface ``app``), so
it defines the resource classes ``Driver``, ``Reader``, ``Writer`` and ``Put`` and the class
``Manifest`` of the exported interface ``manifest``. A WIT ``result`` error is raised as
``Err(<error variant>)``; any other exception leaving an export would trap, and a trap makes the
host discard the instance and every file in it, so each exported method goes through
``guarded``, which turns it into a ``backend`` error and logs its traceback.
"""

from __future__ import annotations

import functools
import sys
import time
import traceback
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import TypeVar

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import app as api
from wit_world.exports import manifest
from wit_world.imports import types as wit
from wit_world.imports.host_log import Level, log

#: The driver's name as operators register it (also the manifest's).
NAME = "python-inmemory"
#: The version of the WIT package this component is built against (wit/storage.wit).
WIT_VERSION = "0.2.0"

# ---------------------------------------------------------------------------------------------
# Logging: `log(Level.X, message)` sends a line to the host's tracing (target `wharf::guest`, with
# the driver's name; `WHARF_LOG=info` shows info and above), cut to 4 KiB, control characters
# escaped, rate-limited to about 50 lines a second.


class _HostLogStream:
    """A text stream that sends each complete line to ``host-log`` at one level.

    ``sys.stdout`` and ``sys.stderr`` are replaced by two of these, so ``print()`` and whatever
    Python itself writes to stderr (the traceback of an exception that escapes an export, just
    before the trap) reach the host's log. The text also goes on to the real stream, which the
    sandbox never shows but whose last lines a host may quote when the guest traps.
    """

    def __init__(self, level: Level, mirror) -> None:
        self._level = level
        self._mirror = mirror
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            log(self._level, line)
        if self._mirror is not None:
            try:
                self._mirror.write(text)
                self._mirror.flush()
            except (OSError, ValueError):
                self._mirror = None  # a closed stream: the log alone then
        return len(text)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            log(self._level, pending)

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


# Set at build time (componentize-py runs this module then and snapshots the interpreter); the
# streams write nothing before the host's first call, when the `host-log` import is there.
sys.stdout = _HostLogStream(Level.INFO, sys.__stdout__)
sys.stderr = _HostLogStream(Level.ERROR, sys.__stderr__)


# ---------------------------------------------------------------------------------------------
# Errors.


def not_found(path: str) -> Err:
    return Err(wit.Error_PathNotFound(path))


def invalid_offset(path: str, offset: int) -> Err:
    return Err(wit.Error_InvalidOffset(wit.InvalidOffset(path, offset)))


def unsupported(operation: str) -> Err:
    return Err(wit.Error_Unsupported(operation))


def backend(message: str, temporary: bool = False) -> Err:
    return Err(wit.Error_Backend(wit.BackendError(message, temporary)))


F = TypeVar("F", bound=Callable)


def guarded(method: F) -> F:
    """Lets only WIT errors (``Err``) leave ``method``; anything else becomes a ``backend`` error.

    The traceback is logged at level error, one line at a time, so a bug shows up in the host's
    log while the instance (and with it every file) stays alive.
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Err:
            raise
        except BaseException as e:  # the outermost frame: nothing above can handle it
            log(Level.ERROR, f"internal error in {method.__name__}: {e!r}")
            # The traceback without this wrapper's frame.
            for chunk in traceback.format_exception(type(e), e, e.__traceback__.tb_next):
                for line in chunk.rstrip("\n").split("\n"):
                    log(Level.ERROR, line)
            what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            raise backend(f"internal error in {method.__name__}: {what}") from e

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Paths (already valid; see above).

ROOT = "/"


def parent(path: str) -> str:
    """The parent of a path (``/a/b`` → ``/a``, ``/a`` → ``/``)."""
    i = path.rfind("/")
    return ROOT if i <= 0 else path[:i]


def base_name(path: str) -> str:
    """The last component (``/a/b`` → ``b``)."""
    return path[path.rfind("/") + 1 :]


def components(path: str) -> list[str]:
    """The components of a path (``/`` → none)."""
    return [] if path == ROOT else path[1:].split("/")


def join(directory: str, name: str) -> str:
    """``directory`` joined with a child name."""
    return f"/{name}" if directory == ROOT else f"{directory}/{name}"


def is_ancestor(ancestor: str, path: str) -> bool:
    """True when ``ancestor`` is a strict component-prefix of ``path`` (``/a`` of ``/a/b``, not
    of ``/ab``)."""
    if ancestor == ROOT:
        return path != ROOT
    return len(path) > len(ancestor) and path.startswith(ancestor) and path[len(ancestor)] == "/"


def walk_order(a: str, b: str) -> int:
    """The contract's walk order, as -1, 0 or 1: component-wise byte order (``/a/c`` before
    ``/a-b``, because ``a`` sorts before ``a-b``, although as whole strings ``/a-b`` < ``/a/c``).
    Mapping the separator to a character below every component character makes plain string
    comparison component-wise."""
    x = a.replace("/", "\0")
    y = b.replace("/", "\0")
    return (x > y) - (x < y)


# ---------------------------------------------------------------------------------------------
# Content.

#: Writes shorter than this are copied onto a growing buffer instead of kept as their own chunk.
COALESCE_BELOW = 64 << 10
#: The growing buffer is sealed as a chunk once it reaches this size.
CHUNK = 1 << 20


class Content:
    """Immutable file content: the chunks it was written in (never changed once here), so
    appending and committing never copy earlier bytes, and a reader keeps the content it
    opened."""

    __slots__ = ("chunks", "length", "_starts")

    def __init__(self, chunks: list[bytes], length: int) -> None:
        self.chunks = chunks
        self.length = length
        self._starts: list[int] | None = None  # offset of each chunk, made on the first read

    @classmethod
    def of(cls, data: bytes) -> Content:
        return cls([data] if data else [], len(data))

    def whole(self) -> bytes:
        """The whole content in one ``bytes``. Several chunks are joined once and the joined
        bytes replace them (same bytes, so readers sharing this content are unaffected): the next
        call copies nothing, and the chunks are freed."""
        if not self.chunks:
            return b""
        if len(self.chunks) > 1:
            self.chunks = [b"".join(self.chunks)]
            self._starts = None
        return self.chunks[0]

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (empty at the end)."""
        n = min(size, self.length - offset)
        if n <= 0:
            return b""
        if self._starts is None:
            starts, at = [], 0
            for chunk in self.chunks:
                starts.append(at)
                at += len(chunk)
            self._starts = starts
        # The last chunk starting at or before `offset`.
        i = bisect_right(self._starts, offset) - 1
        within = offset - self._starts[i]
        first = self.chunks[i]
        if len(first) - within >= n:
            return first[within : within + n]  # the chunk itself when it is all of it
        out = bytearray()
        while len(out) < n:
            chunk = self.chunks[i]
            out += chunk[within : within + n - len(out)]
            i += 1
            within = 0
        return bytes(out)


class Rope:
    """Content being uploaded: sealed chunks plus a growing buffer for small writes (sealed at
    ``CHUNK``), so many small writes cost amortised linear time and few chunks."""

    __slots__ = ("chunks", "length", "_buf")

    def __init__(self, chunks: list[bytes] | None = None, length: int = 0) -> None:
        self.chunks = chunks if chunks is not None else []
        self.length = length
        self._buf = bytearray()

    @classmethod
    def continuing(cls, content: Content) -> Rope:
        """An upload that continues committed content (its chunks are shared, never changed)."""
        return cls(list(content.chunks), content.length)

    def push(self, data: bytes) -> None:
        n = len(data)
        if n == 0:
            return
        self.length += n
        if n >= COALESCE_BELOW:
            # The bindings hand over a fresh `bytes`: kept as it is, no copy.
            self._seal()
            self.chunks.append(data)
            return
        if len(self._buf) + n > CHUNK:
            self._seal()  # full: a new buffer takes this write
        self._buf += data

    def _seal(self) -> None:
        """Moves the growing buffer into the chunks."""
        if self._buf:
            self.chunks.append(bytes(self._buf))
            self._buf = bytearray()

    def freeze(self) -> Content:
        """The content so far, immutable; later pushes go to a new buffer."""
        self._seal()
        return Content(list(self.chunks), self.length)


# ---------------------------------------------------------------------------------------------
# The tree: directories exist only as component-prefixes of files, so a directory left empty is
# removed at once (the root stays).

EPOCH = wit.Datetime(0, 0)


def now() -> wit.Datetime:
    """The time of a write (``wasi:clocks/wall-clock``)."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return wit.Datetime(seconds, nanoseconds)


class FileNode:
    __slots__ = ("content", "mod_time")

    def __init__(self, content: Content, mod_time: wit.Datetime) -> None:
        self.content = content
        self.mod_time = mod_time


class DirNode:
    __slots__ = ("children", "_sorted")

    def __init__(self) -> None:
        self.children: dict[str, FileNode | DirNode] = {}
        self._sorted: list[str] | None = None  # child names in byte order, rebuilt after a change

    def names(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.children)
        return self._sorted

    def set(self, name: str, node: FileNode | DirNode) -> None:
        if name not in self.children:
            self._sorted = None
        self.children[name] = node

    def remove(self, name: str) -> None:
        if self.children.pop(name, None) is not None:
            self._sorted = None


Node = FileNode | DirNode


class Upload:
    """An upload not committed: its content so far, shared by the store and the writer that has
    it open."""

    __slots__ = ("rope",)

    def __init__(self, rope: Rope) -> None:
        self.rope = rope


class Store:
    """One namespace: the tree of committed files, and the uploads parked beside it (where stat,
    list and walk don't see them)."""

    def __init__(self) -> None:
        self.root = DirNode()
        self.uploads: dict[str, Upload] = {}

    def lookup(self, path: str) -> Node | None:
        """The node at a path (the root for ``/``), or None. Walks components, never prefixes."""
        node: Node | None = self.root
        for part in components(path):
            if not isinstance(node, DirNode):
                return None
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def file(self, path: str) -> FileNode | None:
        node = None if path == ROOT else self.lookup(path)
        return node if isinstance(node, FileNode) else None

    def file_ancestor(self, path: str) -> str | None:
        """The first ancestor of ``path`` that is a file, if any."""
        node: Node | None = self.root
        at = ""
        for part in components(path)[:-1]:
            assert isinstance(node, DirNode)
            node = node.children.get(part)
            at += "/" + part
            if node is None:
                return None
            if isinstance(node, FileNode):
                return at
        return None

    def check_file_path(self, path: str) -> None:
        """Fails when ``path`` cannot hold a file: a directory is there, or a file is a parent."""
        if isinstance(self.lookup(path), DirNode):
            raise backend(f"cannot write {path}: it is a directory")
        blocking = self.file_ancestor(path)
        if blocking is not None:
            raise backend(f"cannot write {path}: {blocking} is a file")

    def make_dirs(self, path: str) -> DirNode:
        """The directory at ``path``, creating missing ones (callers checked no file is in the
        way)."""
        directory = self.root
        for part in components(path):
            child = directory.children.get(part)
            if child is None:
                child = DirNode()
                directory.set(part, child)
            assert isinstance(child, DirNode)
            directory = child
        return directory

    def commit_file(self, path: str, content: Content) -> None:
        """Makes ``content`` the file at ``path`` in one step (one dict assignment), creating
        parents."""
        self.check_file_path(path)
        self.make_dirs(parent(path)).set(base_name(path), FileNode(content, now()))

    def remove(self, path: str) -> Node | None:
        """Removes and returns the node at a non-root path, pruning directories left empty."""
        parts = components(path)
        dirs = [self.root]
        for part in parts[:-1]:
            child = dirs[-1].children.get(part)
            if not isinstance(child, DirNode):
                return None
            dirs.append(child)
        node = dirs[-1].children.get(parts[-1])
        if node is None:
            return None
        dirs[-1].remove(parts[-1])
        for i in range(len(dirs) - 1, 0, -1):
            if dirs[i].children:
                break
            dirs[i - 1].remove(parts[i - 1])
        return node

    def move(self, source: str, dest: str) -> None:
        if self.lookup(source) is None:
            raise not_found(source)
        if source == dest:
            return
        if is_ancestor(source, dest):
            raise backend(f"cannot move {source} into itself ({dest})")
        # Checked before anything moves, so a failure leaves the tree as it was.
        blocking = self.file_ancestor(dest)
        if blocking is not None:
            raise backend(f"cannot move {source} to {dest}: {blocking} is a file")
        node = self.remove(source)
        assert node is not None
        self.make_dirs(parent(dest)).set(base_name(dest), node)

    def delete(self, path: str) -> None:
        if self.remove(path) is None:
            raise not_found(path)
        for upload_path in [p for p in self.uploads if p == path or is_ancestor(path, p)]:
            del self.uploads[upload_path]


#: Stores by namespace: drivers created with the same configuration share one.
_stores: dict[str | None, Store] = {}


def store_named(namespace: str | None) -> Store:
    store = _stores.get(namespace)
    if store is None:
        store = _stores[namespace] = Store()
    return store


def file_info(path: str, node: Node) -> wit.FileInfo:
    if isinstance(node, FileNode):
        return wit.FileInfo(path, node.content.length, node.mod_time, False)
    return wit.FileInfo(path, 0, EPOCH, True)


# ---------------------------------------------------------------------------------------------
# Walk.

SKIP = 0  # at or before the resume point, nothing after it underneath
DESCEND = 1  # not emitted, but entries after the resume point lie underneath
EMIT = 2  # after the resume point


def position(path: str, resume: api.ResumePoint) -> int:
    point = resume.value
    order = walk_order(path, point)
    if isinstance(resume, api.ResumePoint_After):
        if order > 0:
            return EMIT
        if order == 0 or is_ancestor(path, point):
            return DESCEND
        return SKIP
    # after-subtree
    if order > 0:
        return SKIP if is_ancestor(point, path) else EMIT
    if order < 0 and is_ancestor(path, point):
        return DESCEND
    return SKIP


def walk_entries(
    directory: DirNode, dir_path: str, resume: api.ResumePoint | None
) -> Iterator[wit.FileInfo]:
    """The entries under ``directory`` (at ``dir_path``) in walk order, after ``resume`` (None:
    all). Once a path is emitted, everything under it is too, so the resume point is only
    consulted on the way to it."""
    names = directory.names()
    i = 0
    if resume is not None:
        # Siblings run SKIP…, at most one DESCEND, then EMIT…: binary-search the first non-SKIP.
        hi = len(names)
        while i < hi:
            mid = (i + hi) // 2
            if position(join(dir_path, names[mid]), resume) == SKIP:
                i = mid + 1
            else:
                hi = mid
    for name in names[i:]:
        path = join(dir_path, name)
        node = directory.children[name]
        pos = EMIT if resume is None else position(path, resume)
        if pos == SKIP:
            continue
        if pos == EMIT:
            yield file_info(path, node)
        if isinstance(node, DirNode):
            yield from walk_entries(node, path, None if pos == EMIT else resume)


# ---------------------------------------------------------------------------------------------
# The exported resources of interface `driver`.


class Driver(api.Driver):
    """A driver created from the operator's parameters: a view of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    @guarded
    def create(cls, params: list[wit.Param]) -> Driver:
        values = {p.key.lower(): p.value for p in params}  # the last one wins
        for key in values:
            if key != "namespace":
                raise backend(f"unknown parameter {key} (accepted: namespace)")
        namespace = values.get("namespace")
        shown = "default" if namespace is None else repr(namespace)
        log(Level.DEBUG, f"driver created (namespace {shown})")
        return cls(store_named(namespace))

    @guarded
    def get_content(self, path: str) -> api.Content:
        file = self.store.file(path)
        if file is None:
            raise not_found(path)
        # The bindings copy the result into a buffer they never free (componentize-py 0.25.1):
        # every byte returned here and by Reader.read stays allocated; see README, Limits.
        return api.Content_Bytes(file.content.whole())

    @guarded
    def put_content(self, path: str, content: bytes) -> None:
        # `content` is the bindings' fresh `bytes`: kept as it is, no second copy.
        self.store.commit_file(path, Content.of(content))

    @guarded
    def begin_put(self, path: str, length: int) -> api.OpenedPut | None:
        return None  # contents come through put_content

    @guarded
    def open_reader(self, path: str, offset: int) -> api.OpenedReader:
        file = self.store.file(path)
        if file is None:
            raise not_found(path)
        if offset > file.content.length:
            raise invalid_offset(path, offset)
        # The reader keeps the content it opened: a later put or commit replaces the file's
        # content object, never changes it.
        return api.OpenedReader(Reader(file.content, offset), None)

    @guarded
    def open_writer(self, path: str, append: bool) -> api.OpenedWriter:
        store = self.store
        if append:
            # Resume the parked upload, else continue the committed file (its content stays
            # intact until commit), else there is nothing to resume.
            upload = store.uploads.get(path)
            if upload is None:
                file = store.file(path)
                if file is None:
                    raise not_found(path)
                upload = Upload(Rope.continuing(file.content))
        else:
            upload = Upload(Rope())
        # Parked at once (replacing an earlier uncommitted upload), so a writer dropped without
        # close leaves its upload resumable, like close.
        store.uploads[path] = upload
        writer = Writer(store, path, upload)
        return api.OpenedWriter(writer, writer.size(), 0, 0)

    @guarded
    def stat(self, path: str) -> wit.FileInfo:
        node = self.store.lookup(path)
        if node is None:
            raise not_found(path)
        return file_info(path, node)

    @guarded
    def list(self, path: str) -> list[str]:
        node = self.store.lookup(path)
        if not isinstance(node, DirNode):
            raise not_found(path)
        return [join(path, name) for name in node.names()]

    @guarded
    def move(self, source: str, dest: str) -> None:
        self.store.move(source, dest)

    @guarded
    def delete(self, path: str) -> None:
        self.store.delete(path)

    @guarded
    def redirect_url(
        self, method: wit.RedirectMethod, path: str, expiry_seconds: int
    ) -> str | None:
        return None  # serve through the registry

    @guarded
    def walk(self, path: str, resume: api.ResumePoint | None, limit: int) -> api.WalkPage:
        directory = self.store.lookup(path)
        if not isinstance(directory, DirNode):
            raise not_found(path)
        most = max(1, limit)
        entries: list[wit.FileInfo] = []
        it = walk_entries(directory, path, resume)
        for entry in it:
            entries.append(entry)
            if len(entries) == most:
                # `done` is exact: ask for one more.
                return api.WalkPage(entries, next(it, None) is None)
        return api.WalkPage(entries, True)


class Reader(api.Reader):
    """The bytes of one content from a position on."""

    def __init__(self, content: Content, position: int) -> None:
        self.content = content
        self.position = position

    @guarded
    def read(self, max_len: int) -> bytes:
        # An empty chunk means the end, so a request for nothing still gets a byte.
        chunk = self.content.read_at(self.position, max(1, max_len))
        self.position += len(chunk)
        return chunk


class Writer(api.Writer):
    """A resumable upload to one path, through ``write`` (no parts: ``part-size`` is 0)."""

    def __init__(self, store: Store, path: str, upload: Upload) -> None:
        self.store = store
        self.path = path
        self.upload = upload
        self.state = "open"
        self.accepted = upload.rope.length

    def _refuse(self, operation: str) -> Err:
        return backend(f"{operation}: writer already {self.state}")

    @guarded
    def write(self, data: bytes) -> None:
        if self.state != "open":
            raise self._refuse("write")
        self.upload.rope.push(data)
        self.accepted += len(data)

    @guarded
    def begin_part(self, length: int, kind: api.PartKind) -> object:
        raise unsupported("begin-part")  # never called: the writer asked for no parts

    @guarded
    def end_part(self, written: int) -> None:
        raise unsupported("end-part")

    def size(self) -> int:
        return self.accepted

    @guarded
    def close(self) -> None:
        if self.state == "open":
            self.state = "closed"
            # Parked since open; put it back if a delete of the path removed it meanwhile (but
            # never over a newer upload another writer started).
            self.store.uploads.setdefault(self.path, self.upload)
        elif self.state in ("committed", "cancelled"):
            return  # only frees resources
        else:
            raise self._refuse("close")

    @guarded
    def commit(self) -> None:
        if self.state != "open":
            raise self._refuse("commit")
        # commit_file checks before it changes anything, so a refused commit leaves the upload
        # whole.
        self.store.commit_file(self.path, self.upload.rope.freeze())
        self._forget()
        self.state = "committed"
        # The file has the content now; the writer lets go of it.
        self.upload.rope = Rope()

    @guarded
    def cancel(self) -> None:
        if self.state in ("open", "closed"):
            self.state = "cancelled"
            self._forget()
            self.upload.rope = Rope()
        elif self.state == "cancelled":
            return
        else:
            raise self._refuse("cancel")

    def _forget(self) -> None:
        """Removes this writer's upload from the parked ones (not a newer one at the same
        path)."""
        if self.store.uploads.get(self.path) is self.upload:
            del self.store.uploads[self.path]


class Put(api.Put):
    """Unused: ``begin_put`` answers none, so the host puts contents through ``put_content``."""

    @guarded
    def finish(self, written: int) -> None:
        raise unsupported("begin-put")


# ---------------------------------------------------------------------------------------------
# The exported interface `manifest`.


class Manifest(exports.Manifest):
    def describe(self) -> manifest.Info:
        return manifest.Info(name=NAME, wit_version=WIT_VERSION, stateful=True, requested=[])
