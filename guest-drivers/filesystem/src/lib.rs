//! The filesystem storage driver as a WebAssembly guest: content in files under a directory the
//! operator preopens for it (`/data` by default), laid out exactly as the native `filesystem`
//! driver and the reference registry lay it out (`<rootdirectory><path>`, see `layout`), so a
//! directory written by one is read by the others.
//!
//! The driver is stateless: every bit of state — content, staged uploads, temporary files — is
//! in the directory, so the host may run a pool of instances and any of them resumes an upload
//! another one closed. The sandbox confines it: the guest sees only its preopens, and
//! wasmtime's preopens do not let `..` or symbolic links lead outside them.
//!
//! Parameters: `rootdirectory` (default `/data`; a guest path inside a preopen, created if
//! missing) and `maxthreads` (accepted for configurations written for the native driver, and
//! ignored: the host decides concurrency). Any other key is an error naming it.

#![forbid(unsafe_code)]

mod layout;
mod listing;
mod writer;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use wharf_guest_sdk::path::{is_ancestor, join};
use wharf_guest_sdk::{Driver, Error, FileInfo, Params, Result, StreamReader};

use crate::layout::{Location, full_path, is_visible};
use crate::writer::{FsWriter, remove_quietly};

/// The parameter naming the root directory.
pub const ROOT_DIRECTORY: &str = "rootdirectory";
/// The root directory when the parameter is absent: the guest path the manifest asks for.
pub const DEFAULT_ROOT_DIRECTORY: &str = "/data";

/// The filesystem driver: a root directory.
pub struct FilesystemDriver {
    root: PathBuf,
}

impl FilesystemDriver {
    fn location(&self, path: &str) -> Location {
        Location::of(&self.root, path)
    }
}

/// Opens `path` for reading: a file, not a directory; returns it with its size.
fn open_file(full: &std::path::Path, path: &str) -> Result<(File, u64)> {
    let file = File::open(full).map_err(|e| Error::from_io(e, "open", path))?;
    let metadata = file
        .metadata()
        .map_err(|e| Error::from_io(e, "stat", path))?;
    if metadata.is_dir() {
        return Err(Error::not_found(path));
    }
    Ok((file, metadata.len()))
}

impl Driver for FilesystemDriver {
    type Reader = StreamReader;
    type Writer = FsWriter;

    fn new(mut params: Params) -> Result<Self> {
        let root = params
            .string(ROOT_DIRECTORY)?
            .unwrap_or_else(|| DEFAULT_ROOT_DIRECTORY.to_owned());
        params.u64("maxthreads")?;
        params.finish()?;
        if root.is_empty() {
            return Err(Error::backend(
                format!("invalid parameter {ROOT_DIRECTORY}: expected a directory path, got \"\""),
                false,
            ));
        }
        fs::create_dir_all(&root).map_err(|e| {
            Error::backend(
                format!(
                    "invalid parameter {ROOT_DIRECTORY}: cannot create or open {root} ({e}); \
                     it must lie inside a directory the operator granted"
                ),
                false,
            )
        })?;
        wharf_guest_sdk::log::debug!("filesystem guest driver on {root}");
        Ok(Self {
            root: PathBuf::from(root),
        })
    }

    fn get_content(&self, path: &str) -> Result<Vec<u8>> {
        let (mut file, size) = open_file(&self.location(path).full, path)?;
        // Read to the end rather than to `size`, so a file that grows meanwhile is read whole.
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut content)
            .map_err(|e| Error::from_io(e, "read", path))?;
        Ok(content)
    }

    fn put_content(&self, path: &str, content: Vec<u8>) -> Result<()> {
        let location = self.location(path);
        location
            .create_parent()
            .map_err(|e| Error::from_io(e, "create parent directories of", path))?;
        let (temporary, mut file) = location
            .create_temporary()
            .map_err(|e| Error::from_io(e, "create temporary file for", path))?;
        let replaced = file
            .write_all(&content)
            .and_then(|()| file.sync_data())
            .and_then(|()| fs::rename(&temporary, &location.full));
        drop(file);
        if let Err(e) = replaced {
            remove_quietly(&temporary);
            return Err(Error::from_io(e, "put_content", path));
        }
        location
            .sync_parent()
            .map_err(|e| Error::from_io(e, "sync directory of", path))
    }

    /// Small files as bytes; larger ones as the file's own stream, which the host reads.
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    fn content(&self, path: &str) -> Result<wharf_guest_sdk::Content> {
        let reader = open_stream(&self.location(path).full, path, 0, Some(STREAM_CONTENT))?;
        Ok(match reader {
            Opened::Stream(reader) => wharf_guest_sdk::Content::Stream(reader),
            Opened::Small(bytes) => wharf_guest_sdk::Content::Bytes(bytes),
        })
    }

    /// A temporary file beside the target, written by the host through its stream, renamed
    /// over the target when the put finishes whole.
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    fn begin_put(
        &self,
        path: &str,
        length: u64,
    ) -> Result<Option<(Box<dyn wharf_guest_sdk::Put>, wharf_guest_sdk::OutputStream)>> {
        use wasip2::filesystem::types::DescriptorFlags;

        let location = self.location(path);
        location
            .create_parent()
            .map_err(|e| Error::from_io(e, "create parent directories of", path))?;
        let (temporary, file) = location
            .create_temporary()
            .map_err(|e| Error::from_io(e, "create temporary file for", path))?;
        let opened = listing::open_file(&temporary, DescriptorFlags::WRITE).and_then(|d| {
            let stream = d.write_via_stream(0).map_err(listing::io_error)?;
            Ok((d, stream))
        });
        let (descriptor, stream) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                remove_quietly(&temporary);
                return Err(Error::from_io(e, "put_content", path));
            }
        };
        let put = FsPut {
            length,
            location,
            path: path.to_owned(),
            temporary,
            file,
            descriptor: Some(descriptor),
        };
        Ok(Some((Box::new(put), stream)))
    }

    /// The file's own stream from `offset`, handed to the host: its bytes never pass through
    /// the guest.
    fn reader(&self, path: &str, offset: u64) -> Result<StreamReader> {
        match open_stream(&self.location(path).full, path, offset, None)? {
            Opened::Stream(reader) => Ok(reader),
            Opened::Small(_) => unreachable!("no size limit was given"),
        }
    }

    fn writer(&self, path: &str, append: bool) -> Result<FsWriter> {
        writer::open(self.location(path), path, append)
    }

    fn stat(&self, path: &str) -> Result<FileInfo> {
        let metadata = fs::metadata(full_path(&self.root, path))
            .map_err(|e| Error::from_io(e, "stat", path))?;
        let mod_time = metadata
            .modified()
            .map_err(|e| Error::from_io(e, "stat", path))?;
        Ok(if metadata.is_dir() {
            FileInfo::dir(path, mod_time)
        } else {
            FileInfo::file(path, metadata.len(), mod_time)
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>> {
        let names = listing::names(&full_path(&self.root, path))
            .map_err(|e| Error::from_io(e, "list", path))?;
        let mut children: Vec<String> = names
            .iter()
            .filter(|name| is_visible(name))
            .map(|name| join(path, name))
            .collect();
        children.sort_unstable();
        Ok(children)
    }

    fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let (from, to) = (self.location(source), self.location(dest));
        let failed = |e: io::Error| match Error::from_io(e, "move", source) {
            Error::Backend { message, temporary } => {
                Error::backend(format!("{message} (to {dest})"), temporary)
            }
            other => other,
        };
        // Checked first, so a missing source or a move into itself changes nothing.
        fs::symlink_metadata(&from.full).map_err(failed)?;
        if is_ancestor(source, dest) {
            return Err(Error::backend(
                format!("cannot move {source} into itself ({dest})"),
                false,
            ));
        }
        if source == dest {
            return Ok(());
        }
        to.create_parent()
            .map_err(|e| Error::from_io(e, "create parent directories of", dest))?;
        fs::rename(&from.full, &to.full).map_err(failed)?;
        to.sync_parent()
            .map_err(|e| Error::from_io(e, "sync directory of", dest))
    }

    fn delete(&self, path: &str) -> Result<()> {
        let full = self.location(path).full;
        // Not following links: deleting a link removes the link, never what it points to.
        let metadata =
            fs::symlink_metadata(&full).map_err(|e| Error::from_io(e, "delete", path))?;
        if metadata.is_dir() {
            fs::remove_dir_all(&full)
        } else {
            fs::remove_file(&full)
        }
        .map_err(|e| Error::from_io(e, "delete", path))
    }
}

/// A reader over an open file, from `offset`: a later `put_content` or `commit` renames another
/// file into place and never touches this one, so the reader sees the old content whole.
/// Files up to this size are given whole by `get_content`; larger ones as a stream.
pub const STREAM_CONTENT: u64 = 1 << 20;

/// An opened file: its stream, or (when it is at most the size asked for) its bytes.
enum Opened {
    Stream(StreamReader),
    #[cfg_attr(not(all(target_os = "wasi", target_env = "p2")), allow(dead_code))]
    Small(Vec<u8>),
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn open_stream(
    full: &std::path::Path,
    path: &str,
    offset: u64,
    small: Option<u64>,
) -> Result<Opened> {
    use wasip2::filesystem::types::{DescriptorFlags, DescriptorType};

    let file = listing::open_file(full, DescriptorFlags::READ)
        .map_err(|e| Error::from_io(e, "open", path))?;
    let stat = file
        .stat()
        .map_err(|e| Error::from_io(listing::io_error(e), "stat", path))?;
    if stat.type_ == DescriptorType::Directory {
        return Err(Error::not_found(path));
    }
    if offset > stat.size {
        return Err(Error::invalid_offset(path, offset));
    }
    if small.is_some_and(|limit| stat.size <= limit) {
        // Read to the end rather than to the size, so a file that grows meanwhile is read whole.
        let mut bytes = Vec::with_capacity(usize::try_from(stat.size).unwrap_or(0));
        loop {
            let (chunk, end) = file
                .read(STREAM_CONTENT.max(stat.size), bytes.len() as u64)
                .map_err(|e| Error::from_io(listing::io_error(e), "read", path))?;
            bytes.extend_from_slice(&chunk);
            if end || chunk.is_empty() {
                return Ok(Opened::Small(bytes));
            }
        }
    }
    let stream = file
        .read_via_stream(offset)
        .map_err(|e| Error::from_io(listing::io_error(e), "read", path))?;
    Ok(Opened::Stream(
        StreamReader::new(stream, file).with_size(Some(stat.size - offset)),
    ))
}

/// A content put through a temporary file (see `begin_put`).
#[cfg(all(target_os = "wasi", target_env = "p2"))]
struct FsPut {
    /// The length announced.
    length: u64,
    location: Location,
    path: String,
    temporary: std::path::PathBuf,
    file: File,
    /// The temporary file as the host's stream writes it; closed before finishing.
    descriptor: Option<wasip2::filesystem::types::Descriptor>,
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
impl wharf_guest_sdk::Put for FsPut {
    fn finish(&mut self, written: u64) -> Result<()> {
        self.descriptor = None;
        let whole =
            written == self.length && self.file.metadata().is_ok_and(|m| m.len() == written);
        if !whole {
            remove_quietly(&self.temporary);
            return Ok(());
        }
        let replaced = self
            .file
            .sync_data()
            .and_then(|()| fs::rename(&self.temporary, &self.location.full));
        if let Err(e) = replaced {
            remove_quietly(&self.temporary);
            return Err(Error::from_io(e, "put_content", &self.path));
        }
        self.location
            .sync_parent()
            .map_err(|e| Error::from_io(e, "sync directory of", &self.path))
    }
}

/// Streams exist only under WASI 0.2 (the unit tests on the build machine never read).
#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn open_stream(
    _full: &std::path::Path,
    path: &str,
    _offset: u64,
    _small: Option<u64>,
) -> Result<Opened> {
    Err(Error::backend(
        format!("read {path}: file streams need WASI 0.2"),
        false,
    ))
}

wharf_guest_sdk::export_driver!(
    FilesystemDriver,
    name = "filesystem",
    stateful = false,
    requested = [Capability::Directory(DEFAULT_ROOT_DIRECTORY.into())],
);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().copied())
    }

    #[test]
    fn unknown_and_bad_parameters_are_named() {
        let e = FilesystemDriver::new(params(&[("bogus", "1")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("bogus") && e.contains("rootdirectory"), "{e}");
        let e = FilesystemDriver::new(params(&[("maxthreads", "many")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("maxthreads"), "{e}");
        let e = FilesystemDriver::new(params(&[("rootdirectory", "")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("rootdirectory"), "{e}");
    }
}
