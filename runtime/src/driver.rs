//! The storage driver contract in Rust: [`StorageDriver`], [`FileWriter`], [`FileInfo`] and the
//! reader type [`ByteStream`]. CONTRACT.md says what each operation must do; this file says how
//! it is called.
//!
//! Readers are `Stream<Item = Result<Bytes>>`: chunks arrive as reference-counted `Bytes` so a
//! driver that already holds the data (in memory, or a network buffer) hands it over without a
//! copy. [`crate::stream`] drains one into memory or makes one from bytes already there.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::Result;

/// A reader: the bytes of a file from some offset to its end, in chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

pub use wharf_contract::{FileInfo, RedirectMethod};

/// Options of a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkOptions {
    /// Resume strictly after this path in walk order. Ancestors of it are not re-emitted.
    pub start_after: Option<String>,
}

/// A visitor's answer for one walk entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkControl {
    /// Go on; for a directory, descend into it.
    Continue,
    /// Do not descend into this directory (for a file, the same as `Continue`).
    SkipDir,
    /// End the walk now, successfully.
    Stop,
}

/// The callback a walk calls once per entry. An error from it aborts the walk and is returned
/// unchanged.
pub type Visitor<'a> = dyn FnMut(&FileInfo) -> Result<WalkControl> + Send + 'a;

/// A storage driver: the filesystem-like API a registry stores blobs and manifests through.
///
/// Implementations are shared by many tasks at once (`Arc<dyn StorageDriver>`), so every method
/// takes `&self` and must be safe concurrently. Paths reaching a driver have already been
/// validated by the base layer ([`crate::base::Base`]); drivers never validate them again.
#[async_trait]
pub trait StorageDriver: Send + Sync + 'static {
    /// The registered driver name (`"filesystem"`, `"s3"`, …).
    fn name(&self) -> &str;

    /// How many calls may run at once, if the driver wants a limit (the reference's
    /// `maxthreads`). The base layer enforces it.
    fn concurrency_limit(&self) -> Option<usize> {
        None
    }

    /// The whole content of a file.
    async fn get_content(&self, path: &str) -> Result<Bytes>;

    /// Atomically replaces the content of a file, creating parents as needed.
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()>;

    /// The content of a file from `offset` to its end.
    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream>;

    /// A resumable writer: a new upload (`append = false`) or the resumption of one that an
    /// earlier writer closed (`append = true`).
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>>;

    /// What is at `path`: a file or a directory.
    async fn stat(&self, path: &str) -> Result<FileInfo>;

    /// Direct children of a directory as absolute paths, sorted by byte order.
    async fn list(&self, path: &str) -> Result<Vec<String>>;

    /// Moves a file (or a whole directory, or fails with nothing changed) to `dest`,
    /// overwriting `dest`. This is the contract's `move`.
    async fn rename(&self, source: &str, dest: &str) -> Result<()>;

    /// Recursively deletes `path` and everything under `path/`.
    async fn delete(&self, path: &str) -> Result<()>;

    /// A URL a client may fetch directly, or `None` to serve through the registry.
    async fn redirect_url(
        &self,
        _method: RedirectMethod,
        _path: &str,
        _expiry: Duration,
    ) -> Result<Option<String>> {
        Ok(None)
    }

    /// Visits every descendant of `path` in the contract's order (depth-first, a directory
    /// before its contents, siblings in byte order of their names).
    ///
    /// The default walks with `list` and `stat`; object stores override it with listings.
    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        crate::walk::walk_with_list_and_stat(self, path, options, visitor).await
    }
}

/// A resumable upload to one path.
///
/// Order is `write`* then `commit` then `close`; `close` without `commit` keeps what was written
/// for a later `writer(path, true)`; `cancel` discards the upload. The base layer enforces the
/// state rules (which calls are allowed after which), so drivers only implement the effects.
#[async_trait]
pub trait FileWriter: Send {
    /// Appends `data` to the upload.
    async fn write(&mut self, data: Bytes) -> Result<()>;

    /// Bytes accepted so far (exact after `close` and `commit`; may lag while buffering, never
    /// run ahead).
    fn size(&self) -> u64;

    /// Persists what was written for a later resume and frees resources. After `commit`, only
    /// frees resources.
    async fn close(&mut self) -> Result<()>;

    /// Makes the content readable at the path.
    async fn commit(&mut self) -> Result<()>;

    /// Discards the upload; the path holds what it held before the writer opened.
    async fn cancel(&mut self) -> Result<()>;
}
