//! Wharf's native filesystem driver: content under a root directory, laid out exactly as the
//! reference registry's filesystem driver lays it out (`<rootdirectory><path>`), so Wharf and an
//! existing registry share storage.
//!
//! Every access goes through one `cap_std::fs::Dir` opened on the root, so no path — not even
//! one through a symbolic link planted inside the root — reaches a file outside it. Blocking
//! I/O never stalls the async runtime: `block_in_place` on a multi-thread runtime, else tokio's
//! blocking pool (readers and writers use the pool, one hop per chunk). `put_content` and `commit` write a file beside the target, sync it and
//! rename it into place, so readers see the old content or the new, whole. See `layout` for the
//! driver's own files and README.md for the full mapping and its limits.

#![forbid(unsafe_code)]

mod config;
mod error;
mod layout;
mod reader;
mod remove;
mod walk;
mod writer;

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cap_std::fs::{Dir, OpenOptions};
use wharf_runtime::path::{ROOT, join};
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, Result, StorageDriver,
    Visitor, WalkOptions,
};

pub use config::{
    Config, DEFAULT_MAX_THREADS, DEFAULT_ROOT_DIRECTORY, MAX_THREADS, MIN_THREADS, ROOT_DIRECTORY,
};

use crate::error::{from_io, from_join};
use crate::layout::{Location, is_visible, relative};

/// The name this driver registers under.
pub const NAME: &str = "filesystem";

/// Registers the filesystem driver under [`NAME`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        let driver = tokio::task::spawn_blocking(move || FilesystemDriver::new(config))
            .await
            .map_err(|e| Error::backend("opening the root directory failed").with_source(e))??;
        Ok(Arc::new(driver) as Arc<dyn StorageDriver>)
    })
}

/// The filesystem driver: one root directory, opened once.
#[derive(Debug)]
pub struct FilesystemDriver {
    root: Arc<Dir>,
    config: Config,
}

impl FilesystemDriver {
    /// Opens (creating it if missing) the root directory of `config`. This blocks; from async
    /// code, call it on the blocking pool (as [`register`]'s constructor does).
    pub fn new(config: Config) -> Result<Self> {
        let root_error = |e: std::io::Error| {
            Error::invalid_parameter(
                ROOT_DIRECTORY,
                format!("cannot create or open {}", config.root.display()),
            )
            .with_source(e)
        };
        std::fs::create_dir_all(&config.root).map_err(root_error)?;
        let root = Dir::open_ambient_dir(&config.root, cap_std::ambient_authority())
            .map_err(root_error)?;
        tracing::debug!(root = %config.root.display(), max_threads = config.max_threads,
            "filesystem driver opened");
        Ok(Self {
            root: Arc::new(root),
            config,
        })
    }

    /// The configuration the driver was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `f` on the root directory without stalling the async runtime: on a multi-thread
    /// runtime in `block_in_place` (the worker hands its other tasks to another thread and runs
    /// `f` itself, so the call pays no round trip to the blocking pool — most calls are a few
    /// microseconds of syscalls), elsewhere on the blocking pool.
    async fn blocking<T, F>(&self, op: &str, path: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Dir) -> Result<T> + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| f(&self.root))
            }
            _ => {
                let root = self.root.clone();
                tokio::task::spawn_blocking(move || f(&root))
                    .await
                    .map_err(|e| from_join(e, op, path))?
            }
        }
    }
}

/// Writes `content` beside `path`, syncs it, renames it over `path` and syncs the directory.
fn put_content(root: &Dir, path: &str, content: &[u8]) -> Result<()> {
    let location = Location::of(path);
    location
        .create_parent(root)
        .map_err(|e| from_io(e, "create parent directories of", path))?;
    let temporary = location.temporary();
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = root
        .open_with(&temporary, &options)
        .map_err(|e| from_io(e, "create temporary file for", path))?
        .into_std();
    let replaced = file
        .write_all(content)
        .and_then(|()| file.sync_data())
        .and_then(|()| root.rename(&temporary, root, &location.rel));
    drop(file);
    if let Err(e) = replaced {
        if let Err(cleanup) = root.remove_file(&temporary) {
            tracing::warn!(path, error = %cleanup, "could not remove a temporary file");
        }
        return Err(from_io(e, "put_content", path));
    }
    location
        .sync_parent(root)
        .map_err(|e| from_io(e, "sync directory of", path))
}

fn stat(root: &Dir, path: &str) -> Result<FileInfo> {
    let metadata = if path == ROOT {
        root.dir_metadata()
    } else {
        root.metadata(relative(path))
    }
    .map_err(|e| from_io(e, "stat", path))?;
    let mod_time = metadata
        .modified()
        .map_err(|e| from_io(e, "stat", path))?
        .into_std();
    Ok(if metadata.is_dir() {
        FileInfo::dir(path, mod_time)
    } else {
        FileInfo::file(path, metadata.len(), mod_time)
    })
}

fn list(root: &Dir, path: &str) -> Result<Vec<String>> {
    let entries = if path == ROOT {
        root.entries()
    } else {
        root.read_dir(relative(path))
    }
    .map_err(|e| from_io(e, "list", path))?;
    let mut children = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| from_io(e, "list", path))?.file_name();
        if is_visible(&name) {
            // Visible names are ASCII, so nothing is lost here.
            children.push(join(path, &name.to_string_lossy()));
        }
    }
    children.sort_unstable();
    Ok(children)
}

fn rename(root: &Dir, source: &str, dest: &str) -> Result<()> {
    let (from, to) = (Location::of(source), Location::of(dest));
    let detailed = |e: std::io::Error| {
        let error = from_io(e, "move", source);
        if error.is_not_found() {
            error
        } else {
            error.with_detail(format!("move {source} to {dest}"))
        }
    };
    // Checked first so that a missing source leaves the destination (and its parents) alone.
    root.symlink_metadata(&from.rel).map_err(detailed)?;
    to.create_parent(root)
        .map_err(|e| from_io(e, "create parent directories of", dest))?;
    root.rename(&from.rel, root, &to.rel).map_err(detailed)?;
    to.sync_parent(root)
        .map_err(|e| from_io(e, "sync directory of", dest))
}

fn delete(root: &Dir, path: &str) -> Result<()> {
    let rel = relative(path);
    // Not following links: deleting a link removes the link, never what it points to.
    let metadata = root
        .symlink_metadata(rel)
        .map_err(|e| from_io(e, "delete", path))?;
    if metadata.is_dir() {
        remove::remove_tree(root, rel)
    } else {
        root.remove_file(rel)
    }
    .map_err(|e| from_io(e, "delete", path))
}

#[async_trait]
impl StorageDriver for FilesystemDriver {
    fn name(&self) -> &str {
        NAME
    }

    fn concurrency_limit(&self) -> Option<usize> {
        Some(self.config.max_threads)
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        let p = path.to_owned();
        self.blocking("get_content", path, move |root| {
            reader::get_content(root, &p)
        })
        .await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        let p = path.to_owned();
        self.blocking("put_content", path, move |root| {
            put_content(root, &p, &content)
        })
        .await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        let p = path.to_owned();
        let opened = self
            .blocking("reader", path, move |root| reader::open(root, &p, offset))
            .await?;
        Ok(reader::stream(opened, path.to_owned()))
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let p = path.to_owned();
        let opened = self
            .blocking("writer", path, move |root| writer::open(root, &p, append))
            .await?;
        tracing::debug!(path, append, "upload opened");
        Ok(Box::new(writer::FsWriter::new(
            self.root.clone(),
            path,
            opened,
        )))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let p = path.to_owned();
        self.blocking("stat", path, move |root| stat(root, &p))
            .await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        let p = path.to_owned();
        self.blocking("list", path, move |root| list(root, &p))
            .await
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let (s, d) = (source.to_owned(), dest.to_owned());
        self.blocking("move", source, move |root| rename(root, &s, &d))
            .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let p = path.to_owned();
        self.blocking("delete", path, move |root| delete(root, &p))
            .await
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        walk::walk(&self.root, path, options, visitor).await
    }
}
