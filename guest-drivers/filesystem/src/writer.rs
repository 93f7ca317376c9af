//! Resumable uploads, staged beside their target exactly as the native filesystem driver stages
//! them: an upload to `/a/b` writes `<root>/a/~b.upload`, never `<root>/a/b`, so committed
//! content stays intact until `commit` renames the staging file over it, and `cancel` only
//! removes the staging file. The staging file is the whole resume state (its length is what
//! earlier writers accepted), so any instance on the same directory resumes it.
//!
//! The host writes the bytes itself, in parts of [`PART_SIZE`], into the staging file's own
//! stream (so they never pass through the guest); a part counts once the host ends it whole, so
//! `size()` is always exact. A part or a write that fails cuts the file back to the last whole
//! one, keeping its length a valid resume point.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use wharf_guest_sdk::{Error, Result, Upload};

use crate::layout::Location;

/// Opens the staging file of an upload to `path` (at `location`).
///
/// - `append = false`: a new, empty staging file; an earlier uncommitted upload is discarded.
/// - `append = true`: the existing staging file; without one, a new staging file holding a copy
///   of the committed content (so appending to committed content works and `cancel` leaves it
///   untouched); without committed content either, `PathNotFound`.
pub fn open(location: Location, path: &str, append: bool) -> Result<FsWriter> {
    let io_err = |op: &'static str| io_error(op, path);
    if !append {
        location
            .create_parent()
            .map_err(io_err("create parent directories of"))?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(location.staging())
            .map_err(io_err("create upload of"))?;
        return Ok(FsWriter::new(location, path, file, 0, true));
    }
    match OpenOptions::new().write(true).open(location.staging()) {
        Ok(mut file) => {
            let size = file
                .seek(SeekFrom::End(0))
                .map_err(io_err("open upload of"))?;
            Ok(FsWriter::new(location, path, file, size, false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => stage_committed(location, path),
        Err(e) => Err(Error::from_io(e, "open upload of", path)),
    }
}

/// Starts an upload from the committed content of `path`: copies it into a temporary file,
/// syncs it and renames it to the staging name, so a crash never leaves a half-copied staging
/// file that a resume would trust.
fn stage_committed(location: Location, path: &str) -> Result<FsWriter> {
    let mut source = File::open(&location.full).map_err(|e| Error::from_io(e, "open", path))?;
    let metadata = source
        .metadata()
        .map_err(|e| Error::from_io(e, "stat", path))?;
    if metadata.is_dir() {
        return Err(Error::not_found(path));
    }
    let (temporary, mut file) = location
        .create_temporary()
        .map_err(|e| Error::from_io(e, "create upload of", path))?;
    let copied = io::copy(&mut source, &mut file).and_then(|size| {
        file.sync_data()?;
        fs::rename(&temporary, location.staging())?;
        Ok(size)
    });
    match copied {
        Ok(size) => Ok(FsWriter::new(location, path, file, size, true)),
        Err(e) => {
            remove_quietly(&temporary);
            Err(Error::from_io(e, "copy committed content of", path))
        }
    }
}

/// Maps I/O failures of `op` on `path`.
fn io_error<'a>(op: &'static str, path: &'a str) -> impl Fn(io::Error) -> Error + 'a {
    move |e| Error::from_io(e, op, path)
}

/// Removes a file of the driver's own, logging (not failing) when that does not work.
pub fn remove_quietly(file: &Path) {
    if let Err(e) = fs::remove_file(file)
        && e.kind() != io::ErrorKind::NotFound
    {
        wharf_guest_sdk::log::warn!("could not remove {}: {e}", file.display());
    }
}

/// The part size the writer asks the host for: large enough that the two calls per part cost
/// nothing next to the bytes, small enough that the host holds little per open writer.
pub const PART_SIZE: u64 = 4 << 20;

/// An upload to one path through its staging file.
pub struct FsWriter {
    /// The staging file opened for the part being written, and the part's length.
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    part: Option<(wasip2::filesystem::types::Descriptor, u64)>,
    location: Location,
    path: String,
    /// The staging file; `None` once closed, committed or cancelled.
    file: Option<File>,
    /// Bytes in the staging file.
    size: u64,
    /// The staging file's directory entry is new: `close` syncs the directory so a resume
    /// after a crash finds it.
    created: bool,
}

impl FsWriter {
    fn new(location: Location, path: &str, file: File, size: u64, created: bool) -> Self {
        Self {
            #[cfg(all(target_os = "wasi", target_env = "p2"))]
            part: None,
            location,
            path: path.to_owned(),
            file: Some(file),
            size,
            created,
        }
    }

    fn file(&mut self, op: &str) -> Result<&mut File> {
        self.file.as_mut().ok_or_else(|| {
            Error::backend(
                format!("{op} {}: the upload is already finished", self.path),
                false,
            )
        })
    }
}

impl FsWriter {
    /// Cuts the staging file back to `size` after a failed write, so its length stays a valid
    /// resume point.
    fn cut_back(&mut self) {
        let size = self.size;
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let restored = file
            .set_len(size)
            .and_then(|()| file.seek(SeekFrom::Start(size)).map(drop));
        if let Err(cut) = restored {
            wharf_guest_sdk::log::warn!(
                "upload to {}: could not cut a partial write back: {cut}",
                self.path
            );
        }
    }
}

impl Upload for FsWriter {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    fn part_size(&self) -> u64 {
        PART_SIZE
    }

    /// The staging file's stream at its end: the host writes the part there.
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    fn begin_part(
        &mut self,
        length: u64,
        _kind: wharf_guest_sdk::PartKind,
    ) -> Result<wharf_guest_sdk::OutputStream> {
        use wasip2::filesystem::types::DescriptorFlags;

        self.file("write")?;
        let staging = self.location.staging();
        let file = crate::listing::open_file(&staging, DescriptorFlags::WRITE)
            .map_err(io_error("open upload of", &self.path))?;
        let stream = file
            .write_via_stream(self.size)
            .map_err(|e| Error::from_io(crate::listing::io_error(e), "write", &self.path))?;
        self.part = Some((file, length));
        Ok(stream)
    }

    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    fn end_part(&mut self, written: u64) -> Result<()> {
        let Some((file, length)) = self.part.take() else {
            return Err(Error::backend(
                format!("write {}: no part was begun", self.path),
                false,
            ));
        };
        drop(file);
        if written == length {
            self.size += length;
        } else {
            self.cut_back();
        }
        Ok(())
    }

    fn write(&mut self, data: Vec<u8>) -> Result<()> {
        let file = self.file("write")?;
        if let Err(e) = file.write_all(&data) {
            self.cut_back();
            return Err(Error::from_io(e, "write", &self.path));
        }
        self.size += data.len() as u64;
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn close(&mut self) -> Result<()> {
        self.file("close")?;
        // The writer is finished whatever happens next; the file closes when dropped here.
        if let Some(file) = self.file.take() {
            file.sync_data()
                .map_err(io_error("sync upload of", &self.path))?;
        }
        if self.created {
            self.location
                .sync_parent()
                .map_err(io_error("sync directory of", &self.path))?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.file("commit")?
            .sync_data()
            .map_err(io_error("sync upload of", &self.path))?;
        fs::rename(self.location.staging(), &self.location.full)
            .map_err(io_error("commit", &self.path))?;
        self.file = None;
        self.location
            .sync_parent()
            .map_err(io_error("sync directory of", &self.path))
    }

    fn cancel(&mut self) -> Result<()> {
        self.file = None;
        match fs::remove_file(self.location.staging()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::from_io(e, "cancel upload of", &self.path))
            }
            _ => Ok(()),
        }
    }
}
