//! Resumable uploads. An upload to `/a/b` writes the staging file `<root>/a/~b.upload` (see
//! `layout`), never the committed file `<root>/a/b`, so committed content stays intact until
//! `commit` renames the staging file over it, and `cancel` only has to remove the staging file.
//! The staging file is the whole resume state: its length is the number of bytes earlier writers
//! had accepted when they closed, so any driver instance on the same root resumes it.
//!
//! Writes are buffered (up to 1 MiB, large chunks kept without a copy) and flushed in one
//! blocking hop; `size()` counts only bytes handed to the file, so it lags while bytes are
//! buffered and never runs ahead. `close` flushes and syncs the file (and, for a new staging
//! file, its directory), so everything `size()` reported survives a crash. A flush that fails is
//! sticky: later writes and `commit` are refused, `close` keeps what reached the file.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::mem;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use cap_std::fs::{Dir, OpenOptions};
use wharf_runtime::{Error, FileWriter, Result};

use crate::error::{from_io, from_join};
use crate::layout::Location;

/// Buffered bytes that trigger a flush.
const FLUSH_AT: usize = 1 << 20;

/// Chunks smaller than this are copied into one buffer; larger ones are queued as they are.
const COPY_BELOW: usize = 64 << 10;

/// The staging file a writer starts with (found by [`open`]).
pub(crate) struct Opened {
    file: File,
    size: u64,
    /// True when this writer created the staging file's directory entry, so `close` must sync
    /// the directory for a resume after a crash to find it.
    created: bool,
}

fn write_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    options
}

/// Opens the staging file of an upload to `path` (blocking).
///
/// - `append = false`: a new, empty staging file; an earlier uncommitted upload is discarded.
/// - `append = true`: the existing staging file; without one, a new staging file holding a copy
///   of the committed content (so appending to committed content works, and `cancel` still
///   leaves it untouched); without committed content either, `PathNotFound`.
pub(crate) fn open(root: &Dir, path: &str, append: bool) -> Result<Opened> {
    let location = Location::of(path);
    if !append {
        location
            .create_parent(root)
            .map_err(|e| from_io(e, "create parent directories of", path))?;
        let file = root
            .open_with(
                location.staging(),
                write_options().create(true).truncate(true),
            )
            .map_err(|e| from_io(e, "create upload of", path))?
            .into_std();
        return Ok(Opened {
            file,
            size: 0,
            created: true,
        });
    }
    match root.open_with(location.staging(), &write_options()) {
        Ok(file) => {
            let file = file.into_std();
            let size = file
                .metadata()
                .map_err(|e| from_io(e, "stat upload of", path))?
                .len();
            Ok(Opened {
                file,
                size,
                created: false,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => stage_committed(root, &location, path),
        Err(e) => Err(from_io(e, "open upload of", path)),
    }
}

/// Starts an upload from the committed content of `path`: copies it into a temporary file
/// (`copy_file_range`, a reflink where the filesystem has them), syncs it and renames it to the
/// staging name, so a crash never leaves a half-copied staging file that a resume would trust.
fn stage_committed(root: &Dir, location: &Location, path: &str) -> Result<Opened> {
    let source = root
        .open(&location.rel)
        .map_err(|e| from_io(e, "open", path))?
        .into_std();
    let metadata = source.metadata().map_err(|e| from_io(e, "stat", path))?;
    if metadata.is_dir() {
        return Err(Error::not_found(path));
    }
    let temporary = location.temporary();
    let file = root
        .open_with(&temporary, write_options().create_new(true))
        .map_err(|e| from_io(e, "create upload of", path))?
        .into_std();
    let copied = io::copy(&mut &source, &mut &file).and_then(|size| {
        file.sync_data()?;
        root.rename(&temporary, root, location.staging())?;
        Ok(size)
    });
    match copied {
        Ok(size) => Ok(Opened {
            file,
            size,
            created: true,
        }),
        Err(e) => {
            if let Err(cleanup) = root.remove_file(&temporary) {
                tracing::warn!(path, error = %cleanup, "could not remove a temporary upload file");
            }
            Err(from_io(e, "copy committed content of", path))
        }
    }
}

/// Writes `buffers` at `offset`. Returns the bytes written; on failure the file is cut back to
/// the last whole buffer so its length stays a valid resume point.
fn write_buffers(file: &File, offset: u64, buffers: &[Bytes]) -> (u64, io::Result<()>) {
    let mut written = 0u64;
    let mut out = file;
    if let Err(e) = out.seek(SeekFrom::Start(offset)) {
        return (0, Err(e));
    }
    for buffer in buffers {
        if let Err(e) = out.write_all(buffer) {
            if let Err(cut) = file.set_len(offset + written) {
                tracing::warn!(error = %cut, "could not cut a partly written upload back");
            }
            return (written, Err(e));
        }
        written += buffer.len() as u64;
    }
    (written, Ok(()))
}

/// What a blocking hop of a writer did.
struct Hop<T> {
    written: u64,
    /// The buffered bytes could not all be written (sticky).
    write_failed: bool,
    result: io::Result<T>,
}

/// A file writer over a staging file.
pub(crate) struct FsWriter {
    root: Arc<Dir>,
    path: String,
    location: Location,
    /// The staging file; `None` once committed, closed or cancelled.
    file: Option<Arc<File>>,
    /// Buffered chunks in order, then `tail` (small chunks copied together).
    queued: Vec<Bytes>,
    tail: BytesMut,
    buffered: usize,
    /// Bytes handed to the staging file: what `size()` reports.
    persisted: u64,
    /// `close` must sync the directory (the staging file is new).
    sync_directory: bool,
    /// An earlier flush failed (or was interrupted): bytes were lost, so no more writes.
    broken: bool,
    /// A blocking hop is in flight; still set at the next call if that call's future was
    /// dropped, in which case the file's state is unknown.
    busy: bool,
}

impl FsWriter {
    pub(crate) fn new(root: Arc<Dir>, path: &str, opened: Opened) -> Self {
        Self {
            root,
            path: path.to_owned(),
            location: Location::of(path),
            file: Some(Arc::new(opened.file)),
            queued: Vec::new(),
            tail: BytesMut::new(),
            buffered: 0,
            persisted: opened.size,
            sync_directory: opened.created,
            broken: false,
            busy: false,
        }
    }

    fn take_buffers(&mut self) -> Vec<Bytes> {
        let mut buffers = mem::take(&mut self.queued);
        if !self.tail.is_empty() {
            buffers.push(self.tail.split().freeze());
        }
        self.buffered = 0;
        buffers
    }

    fn refuse_if_broken(&self) -> Result<()> {
        if self.broken || self.busy {
            return Err(Error::backend(format!(
                "upload to {}: an earlier write failed or was interrupted; {} bytes were kept \
                 (close to keep them, or cancel)",
                self.path, self.persisted
            )));
        }
        Ok(())
    }

    /// Flushes the buffers (unless the writer is broken), then runs `then` on the file, in one
    /// blocking hop.
    async fn hop<T, F>(&mut self, op: &'static str, then: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Dir, &File) -> io::Result<T> + Send + 'static,
    {
        if self.busy {
            self.broken = true;
        }
        let Some(file) = self.file.clone() else {
            return Err(Error::backend(format!(
                "{op} {}: the upload is already finished",
                self.path
            )));
        };
        let buffers = self.take_buffers();
        // A broken writer has lost bytes before these: writing them would leave a gap.
        let buffers = if self.broken { Vec::new() } else { buffers };
        let root = self.root.clone();
        let offset = self.persisted;
        self.busy = true;
        let joined = tokio::task::spawn_blocking(move || {
            let (written, flushed) = write_buffers(&file, offset, &buffers);
            match flushed {
                Ok(()) => Hop {
                    written,
                    write_failed: false,
                    result: then(&root, &file),
                },
                Err(e) => Hop {
                    written,
                    write_failed: true,
                    result: Err(e),
                },
            }
        })
        .await;
        self.busy = false;
        match joined {
            Ok(hop) => {
                self.persisted += hop.written;
                self.broken |= hop.write_failed;
                hop.result.map_err(|e| from_io(e, op, &self.path))
            }
            Err(e) => {
                self.broken = true;
                Err(from_join(e, op, &self.path))
            }
        }
    }
}

#[async_trait]
impl FileWriter for FsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.refuse_if_broken()?;
        if data.is_empty() {
            return Ok(());
        }
        self.buffered += data.len();
        if data.len() < COPY_BELOW {
            self.tail.extend_from_slice(&data);
        } else {
            if !self.tail.is_empty() {
                self.queued.push(self.tail.split().freeze());
            }
            self.queued.push(data);
        }
        if self.buffered >= FLUSH_AT {
            self.hop("write", |_, _| Ok(())).await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.persisted
    }

    async fn close(&mut self) -> Result<()> {
        if self.file.is_none() {
            // After commit: nothing left to free but the handle, already gone.
            return Ok(());
        }
        let location = self.location.clone();
        let sync_directory = self.sync_directory;
        self.hop("close", move |root, file| {
            file.sync_data()?;
            if sync_directory {
                location.sync_parent(root)?;
            }
            Ok(())
        })
        .await?;
        self.file = None;
        tracing::debug!(path = %self.path, size = self.persisted, "upload closed");
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        self.refuse_if_broken()?;
        let location = self.location.clone();
        self.hop("commit", move |root, file| {
            file.sync_data()?;
            root.rename(location.staging(), root, &location.rel)?;
            location.sync_parent(root)
        })
        .await?;
        self.file = None;
        tracing::debug!(path = %self.path, size = self.persisted, "upload committed");
        Ok(())
    }

    async fn cancel(&mut self) -> Result<()> {
        self.take_buffers();
        self.file = None;
        let root = self.root.clone();
        let staging = self.location.staging();
        let removed = tokio::task::spawn_blocking(move || match root.remove_file(staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
        .map_err(|e| from_join(e, "cancel", &self.path))?;
        removed.map_err(|e| from_io(e, "cancel upload of", &self.path))?;
        tracing::debug!(path = %self.path, "upload cancelled");
        Ok(())
    }
}

impl Drop for FsWriter {
    /// A writer dropped while open is closed: its bytes are flushed and synced for a resume.
    /// This blocks the dropping thread for one flush; `close` is the way that does not.
    fn drop(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        if self.busy {
            tracing::warn!(path = %self.path, "upload dropped while a write was in flight");
            return;
        }
        let buffers = self.take_buffers();
        let buffers = if self.broken { Vec::new() } else { buffers };
        let (written, flushed) = write_buffers(&file, self.persisted, &buffers);
        let synced = flushed.and_then(|()| {
            file.sync_data()?;
            if self.sync_directory {
                self.location.sync_parent(&self.root)?;
            }
            Ok(())
        });
        match synced {
            Ok(()) => tracing::debug!(
                path = %self.path,
                size = self.persisted + written,
                "upload dropped without close; closed it"
            ),
            Err(error) => tracing::warn!(
                path = %self.path,
                %error,
                "upload dropped without close; could not keep all of it"
            ),
        }
    }
}
