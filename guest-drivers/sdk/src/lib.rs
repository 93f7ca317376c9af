//! Write a Wharf storage driver in Rust, as a WebAssembly component, without touching WIT: implement
//! [`Driver`] (with a [`ReadChunks`] reader and an [`Upload`] writer) and export it with
//! [`export_driver!`]. The crate carries the bindings of `wharf:storage@0.2.0` (world
//! `storage-driver`), converts between them and plain Rust types, keeps the writer's state rules,
//! and offers a paged walk built on `list` and `stat`.
//!
//! Bulk data need not pass through the guest: a reader that has a `wasi:io` input stream (a
//! file's, an HTTP response body's) returns it as a [`StreamReader`], and the host reads it
//! directly; a writer that can take its bytes as parts written into an output stream (a file's
//! append stream, the body of an upload request) says so with [`Upload::part_size`] and
//! implements [`Upload::begin_part`] and [`Upload::end_part`].
//!
//! ```ignore
//! use wharf_guest_sdk::{Driver, FileInfo, Params, Result, ReadChunks, Upload};
//!
//! struct MyDriver { /* … */ }
//! impl Driver for MyDriver {
//!     type Reader = MyReader;
//!     type Writer = MyWriter;
//!     fn new(mut params: Params) -> Result<Self> { params.finish()?; Ok(MyDriver { /* … */ }) }
//!     // get_content, put_content, reader, writer, stat, list, rename, delete
//! }
//! wharf_guest_sdk::export_driver!(MyDriver, name = "mydriver", stateful = true);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` is the component.

// The generated bindings are the only unsafe code, and they are allowed one by one below.
#![deny(unsafe_code)]

mod error;
mod export;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
pub mod params;
pub mod path;
pub mod walk;

use std::time::{SystemTime, UNIX_EPOCH};

pub use error::{Error, Result};
pub use params::Params;
pub use walk::{Resume, WalkPage};
pub use wasip2::io::streams::{InputStream, OutputStream};

/// The WIT bindings, generated once for every driver built with this crate. Drivers do not
/// need them; [`export_driver!`] refers to them.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        // `storage-driver` and the optional `resume` export: a reader that can reopen its
        // stream says so through `ReadChunks::reopen`.
        world: "storage-driver-resumable",
        pub_export_macro: true,
        export_macro_name: "__export_storage_driver",
        default_bindings_module: "wharf_guest_sdk::bindings",
        // The streams a reader or writer hands the host are wasip2's, so a stream opened with
        // the `wasip2` crate (a file's, an HTTP body's) is returned as it is.
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
        },
    });
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::__export_storage_driver as export;
    pub use crate::bindings::exports::wharf::storage::driver::Guest as DriverGuest;
    pub use crate::bindings::exports::wharf::storage::driver::{Error as WitError, ReaderBorrow};
    pub use crate::bindings::exports::wharf::storage::manifest::{Guest as ManifestGuest, Info};
    pub use crate::bindings::exports::wharf::storage::resume::Guest as ResumeGuest;
    pub use crate::export::{
        DriverResource, PutResource, ReaderResource, WriterResource, info, reopen,
    };
}

/// The version of the WIT package this crate binds, reported in every guest's manifest.
pub const WIT_VERSION: &str = "0.2.0";

pub use wharf_contract::{FileInfo, RedirectMethod};

/// A capability a guest would like the operator to grant (listed in its manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// A host directory, preopened at this guest path (e.g. `/data`).
    Directory(String),
    /// Outbound HTTP to this host (`example.com` or `example.com:8443`).
    Http(String),
    /// Read access to this environment variable.
    Environment(String),
}

/// A storage driver: the operations of CONTRACT §3 on validated paths.
///
/// Methods take `&self` because the host may hold readers and writers while it calls the driver;
/// keep mutable state in `Cell`/`RefCell` (an instance is single-threaded). Paths reaching these
/// methods are valid (`/` only for `stat`, `list` and walks). Errors are returned, never
/// panicked: a panic traps, and the host then discards the whole instance.
pub trait Driver: Sized + 'static {
    /// What [`Driver::reader`] returns.
    type Reader: ReadChunks;
    /// What [`Driver::writer`] returns.
    type Writer: Upload;

    /// Creates the driver from the operator's parameters. Take every key you know from
    /// `params`, then call [`Params::finish`] so unknown keys are rejected.
    fn new(params: Params) -> Result<Self>;

    /// The whole content of a file. Missing → [`Error::PathNotFound`].
    fn get_content(&self, path: &str) -> Result<Vec<u8>>;

    /// The whole content of a file as bytes or as a stream the host reads itself (the default:
    /// [`Driver::get_content`]'s bytes). Give a [`StreamReader`] for large files, so they never
    /// pass through the guest's memory.
    fn content(&self, path: &str) -> Result<Content> {
        Ok(Content::Bytes(self.get_content(path)?))
    }

    /// Atomically replaces a file's content (a concurrent reader sees the old or the new, never
    /// a mix); parents are implicit.
    fn put_content(&self, path: &str, content: Vec<u8>) -> Result<()>;

    /// Starts replacing a file's content, as [`Driver::put_content`] does, with `length` bytes
    /// the host writes into the returned stream; the host then calls [`Put::finish`]. `None`
    /// (the default) to take contents through `put_content` only. The host uses it for large
    /// contents.
    fn begin_put(&self, path: &str, length: u64) -> Result<Option<(Box<dyn Put>, OutputStream)>> {
        let _ = (path, length);
        Ok(None)
    }

    /// A reader from `offset` to the end. Missing → `PathNotFound`; `offset` equal to the size →
    /// a reader that ends at once; beyond the size → [`Error::InvalidOffset`].
    fn reader(&self, path: &str, offset: u64) -> Result<Self::Reader>;

    /// A writer: a new upload (`append` false; an earlier uncommitted upload at the path is
    /// discarded) or the resumption of the upload an earlier writer closed (`append` true;
    /// missing → `PathNotFound`). Resume state must outlive the writer (in the backend, or in
    /// the instance for a stateful driver).
    fn writer(&self, path: &str, append: bool) -> Result<Self::Writer>;

    /// A file, or a directory when the path is a component-prefix of a file (`/a` is not a
    /// directory because `/ab` exists). Missing → `PathNotFound`.
    fn stat(&self, path: &str) -> Result<FileInfo>;

    /// Direct children as absolute paths, sorted by byte order. `list("/")` always succeeds; a
    /// missing directory or a file → `PathNotFound`.
    fn list(&self, path: &str) -> Result<Vec<String>>;

    /// Moves a file or a whole directory (or fails with nothing changed), replacing the
    /// destination; destination parents are implicit. Missing source → `PathNotFound`.
    fn rename(&self, source: &str, dest: &str) -> Result<()>;

    /// Deletes `path` and everything under `path/`, never string-prefix siblings (`/a/bc` stays
    /// when `/a/b` goes). Missing → `PathNotFound`.
    fn delete(&self, path: &str) -> Result<()>;

    /// A URL a client may fetch directly for `expiry_seconds`, or `None` (the default) to serve
    /// the content through the registry.
    fn redirect_url(
        &self,
        method: RedirectMethod,
        path: &str,
        expiry_seconds: u64,
    ) -> Result<Option<String>> {
        let _ = (method, path, expiry_seconds);
        Ok(None)
    }

    /// One page of the walk of `path` (see [`walk::page`], which the default uses over
    /// [`Driver::list`] and [`Driver::stat`]). Override it when the backend can list a subtree
    /// in walk order more cheaply.
    fn walk_page(&self, path: &str, resume: Option<&Resume>, limit: u32) -> Result<WalkPage> {
        walk::page(path, resume, limit, |p| self.list(p), |p| self.stat(p))
    }
}

/// A file's whole content (see [`Driver::content`]).
pub enum Content {
    /// The bytes themselves.
    Bytes(Vec<u8>),
    /// A stream of them, which the host reads to its end.
    Stream(StreamReader),
}

/// A content being put through a stream (see [`Driver::begin_put`]).
pub trait Put {
    /// Ends the put once the host wrote `written` bytes and dropped the stream: the content
    /// replaces the file's atomically when `written` is the length announced; otherwise nothing
    /// changes (and `Ok` is the answer: the host reports its own failure).
    fn finish(&mut self, written: u64) -> Result<()>;
}

/// A reader: the bytes of a file from some offset to its end, chunk by chunk.
pub trait ReadChunks: 'static {
    /// The next chunk, ideally at most `max` bytes (longer chunks are split by the SDK, so
    /// the host never gets more than it asked for). An empty chunk means the end of the file.
    fn read(&mut self, max: usize) -> Result<Vec<u8>>;

    /// The reader's bytes as a stream the host reads itself, taken once when the reader is
    /// opened; `None` (the default) to be called `read`. The reader stays alive until the host
    /// is done with the stream, so it can keep what the stream depends on.
    fn stream(&mut self) -> Option<InputStream> {
        None
    }

    /// After the stream taken with [`ReadChunks::stream`] broke off (the host dropped it): the
    /// file's bytes from `offset` (from the start of the file) to its end as a new stream, only
    /// if the file is still the version the reader began with; a file replaced since is a
    /// `backend` error that is not temporary. `None` when the file ends at `offset`. The
    /// default cannot resume (`Unsupported`): the read then fails with the stream's own error.
    fn reopen(&mut self, offset: u64) -> Result<Option<InputStream>> {
        let _ = offset;
        Err(Error::unsupported("reopen"))
    }
}

/// How a [`StreamReader`] asks for the rest of its file after its stream broke off: the bytes
/// from an offset (from the start of the file) as a new stream, with what the stream depends on
/// (an incoming body), or `None` when the file ends at the offset.
pub type Reopen = Box<dyn FnMut(u64) -> Result<Option<(InputStream, Box<dyn std::any::Any>)>>>;

/// A reader over a `wasi:io` input stream (a file's `read-via-stream`, an HTTP response body),
/// handed to the host whole: `Ok(StreamReader::new(stream, file))` is all a driver writes.
/// `keep` is whatever the stream depends on (the file's descriptor, the incoming body); it is
/// dropped after the stream.
pub struct StreamReader {
    // Declared before `_keep`: a stream is dropped before what it depends on.
    stream: Option<InputStream>,
    _keep: Box<dyn std::any::Any>,
    size: Option<u64>,
    reopen: Option<Reopen>,
}

impl StreamReader {
    /// A reader handing `stream` to the host, keeping `keep` alive as long as the reader.
    pub fn new(stream: InputStream, keep: impl std::any::Any) -> Self {
        Self {
            stream: Some(stream),
            _keep: Box::new(keep),
            size: None,
            reopen: None,
        }
    }

    /// A reader that ends at once (opened at the end of a file): no stream, no bytes.
    pub fn empty() -> Self {
        Self {
            stream: None,
            _keep: Box::new(()),
            size: Some(0),
            reopen: None,
        }
    }

    /// Says how many bytes the stream holds, when known: a content read whole is then read
    /// into a buffer of that size (the host still reads to the stream's end).
    pub fn with_size(mut self, size: Option<u64>) -> Self {
        self.size = size;
        self
    }

    /// Lets the host resume the read after the stream broke off: `reopen` asks for the bytes
    /// from an offset, pinned to the version this stream belongs to (an `If-Match` on the ETag
    /// the first answer gave, say). See [`ReadChunks::reopen`].
    pub fn resumable(
        mut self,
        reopen: impl FnMut(u64) -> Result<Option<(InputStream, Box<dyn std::any::Any>)>> + 'static,
    ) -> Self {
        self.reopen = Some(Box::new(reopen));
        self
    }

    /// The size given with [`StreamReader::with_size`].
    pub fn size(&self) -> Option<u64> {
        self.size
    }
}

impl ReadChunks for StreamReader {
    /// The stream read in the guest: used only if the host did not take it.
    fn read(&mut self, max: usize) -> Result<Vec<u8>> {
        let Some(stream) = &self.stream else {
            return Ok(Vec::new());
        };
        match stream.blocking_read(max as u64) {
            Ok(chunk) => Ok(chunk),
            Err(wasip2::io::streams::StreamError::Closed) => Ok(Vec::new()),
            Err(wasip2::io::streams::StreamError::LastOperationFailed(e)) => Err(Error::backend(
                format!("reading failed: {}", e.to_debug_string()),
                true,
            )),
        }
    }

    fn stream(&mut self) -> Option<InputStream> {
        self.stream.take()
    }

    fn reopen(&mut self, offset: u64) -> Result<Option<InputStream>> {
        let Some(reopen) = &mut self.reopen else {
            return Err(Error::unsupported("reopen"));
        };
        // What the broken stream depended on goes first (the host dropped the stream).
        self.stream = None;
        self._keep = Box::new(());
        match reopen(offset)? {
            Some((stream, keep)) => {
                self._keep = keep;
                Ok(Some(stream))
            }
            None => Ok(None),
        }
    }
}

/// A resumable upload to one path.
///
/// The SDK keeps the writer state rules (CONTRACT §3), so an implementation sees `write` and
/// `size` while the upload is open, then exactly one of `close`, `commit` or `cancel`; after
/// `close`, `cancel` may still come (to discard the closed upload). A writer dropped while open
/// is closed by the SDK, so its upload stays resumable and is never committed.
pub trait Upload: 'static {
    /// Appends `data` to the upload.
    fn write(&mut self, data: Vec<u8>) -> Result<()>;
    /// Bytes accepted so far (earlier sessions included): exact after `close` and `commit`; may
    /// lag while buffering, never run ahead of what a later resume would see.
    fn size(&self) -> u64;
    /// Persists what was written for a later `writer(path, true)`.
    fn close(&mut self) -> Result<()>;
    /// Makes the content readable at the path, atomically replacing what was there.
    fn commit(&mut self) -> Result<()>;
    /// Discards the upload; the path then holds what it held before the writer opened.
    fn cancel(&mut self) -> Result<()>;

    /// The part size this upload takes its bytes in (see [`Upload::begin_part`]), or 0 (the
    /// default) to be called [`Upload::write`]. Asked once, when the writer opens.
    fn part_size(&self) -> u64 {
        0
    }

    /// The length of the first full part when it is not [`Upload::part_size`] (0, the default,
    /// when it is): a resumed upload whose saved bytes end inside a part asks for the rest of that
    /// part first. Asked once, when the writer opens.
    fn first_part(&self) -> u64 {
        0
    }

    /// Starts a part of exactly `length` bytes: the stream the host writes them into (a file's
    /// append stream, the body of an upload request). Called only when `part_size` is above 0,
    /// with at most that many bytes; `kind` says what follows the part.
    fn begin_part(&mut self, length: u64, kind: PartKind) -> Result<OutputStream> {
        let _ = (length, kind);
        Err(Error::Unsupported("begin-part".into()))
    }

    /// Ends the part begun last, after the host dropped its stream. `written` is what the host
    /// wrote: below the part's length when writing failed, and the part must then be forgotten
    /// (the upload stays as it was before `begin_part`). Once it succeeds, `size` counts it.
    fn end_part(&mut self, written: u64) -> Result<()> {
        let _ = written;
        Err(Error::Unsupported("end-part".into()))
    }
}

/// Where a part stands in an upload (see [`Upload::begin_part`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A part of `part_size` bytes; more may follow.
    Full,
    /// The last bytes before `close`.
    BeforeClose,
    /// The last bytes before `commit`.
    BeforeCommit,
}

/// The time a [`FileInfo`] carries as seconds and nanoseconds since the epoch (0 for earlier
/// times).
pub(crate) fn since_epoch(time: SystemTime) -> (u64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs(), d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}
