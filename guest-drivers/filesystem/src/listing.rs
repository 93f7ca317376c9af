//! Files and directories through WASI 0.2 itself, where std's view is not enough: files opened
//! as descriptors (whose streams the driver hands the host), and directory listings.
//!
//! The names in a directory. On WASI 0.2 they come straight from the directory's
//! `read-directory` stream: std's `read_dir` (wasi-libc's `readdir`) also asks the host for
//! every entry's inode (`metadata-hash-at`), a sandboxed path lookup per entry that a listing
//! never uses and that costs more than the rest of the listing together. Elsewhere (the unit
//! tests on the build machine) std's `read_dir` serves.

use std::io;
use std::path::Path;

/// The names of the entries of the directory at `dir` (a guest path), in no particular order.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn names(dir: &Path) -> io::Result<Vec<String>> {
    use wasip2::filesystem::types::{DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

    let full = dir
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))?;
    PREOPENS.with(|preopens| {
        let (base, rel) = resolve(preopens, full)?;
        let opened;
        let descriptor = if rel.is_empty() {
            base
        } else {
            opened = base
                .open_at(
                    PathFlags::SYMLINK_FOLLOW,
                    rel,
                    OpenFlags::DIRECTORY,
                    DescriptorFlags::READ,
                )
                .map_err(io_error)?;
            &opened
        };
        let stream = descriptor.read_directory().map_err(io_error)?;
        let mut names = Vec::new();
        loop {
            match stream.read_directory_entry() {
                Ok(Some(entry)) => names.push(entry.name),
                Ok(None) => return Ok(names),
                // The host looks at each entry after reading the directory (wasmtime stats it
                // for its type); an entry removed in between is reported as this entry's
                // error, and the stream goes on. Gone, so not listed: the directory itself is
                // there.
                Err(ErrorCode::NoEntry) => {}
                Err(code) => return Err(io_error(code)),
            }
        }
    })
}

/// Opens the file at `full` (a guest path) as a WASI descriptor, following links as std's
/// `open` does (the host refuses links that lead out of a grant).
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn open_file(
    full: &Path,
    flags: wasip2::filesystem::types::DescriptorFlags,
) -> io::Result<wasip2::filesystem::types::Descriptor> {
    use wasip2::filesystem::types::{OpenFlags, PathFlags};

    let full = full
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))?;
    PREOPENS.with(|preopens| {
        let (base, rel) = resolve(preopens, full)?;
        base.open_at(PathFlags::SYMLINK_FOLLOW, rel, OpenFlags::empty(), flags)
            .map_err(io_error)
    })
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
thread_local! {
    /// The directories the host preopened, with their guest paths (asked for once: each call
    /// of `get-directories` makes new handles).
    static PREOPENS: Vec<(wasip2::filesystem::types::Descriptor, String)> =
        wasip2::filesystem::preopens::get_directories();
}

/// The preopen holding `full` (the longest whose guest path is `full` or one of its ancestors)
/// and the path relative to it.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn resolve<'a>(
    preopens: &'a [(wasip2::filesystem::types::Descriptor, String)],
    full: &'a str,
) -> io::Result<(&'a wasip2::filesystem::types::Descriptor, &'a str)> {
    preopens
        .iter()
        .filter_map(|(descriptor, guest)| {
            let guest = guest.trim_end_matches('/');
            let rest = full.strip_prefix(guest)?;
            match rest.strip_prefix('/') {
                Some(rel) => Some((guest.len(), descriptor, rel)),
                None if rest.is_empty() => Some((guest.len(), descriptor, "")),
                None => None,
            }
        })
        .max_by_key(|&(len, ..)| len)
        .map(|(_, descriptor, rel)| (descriptor, rel.trim_end_matches('/')))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{full} is in no directory the host granted"),
            )
        })
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub fn io_error(code: wasip2::filesystem::types::ErrorCode) -> io::Error {
    use wasip2::filesystem::types::ErrorCode as E;
    let kind = match code {
        E::NoEntry => io::ErrorKind::NotFound,
        E::NotDirectory => io::ErrorKind::NotADirectory,
        E::Access | E::NotPermitted => io::ErrorKind::PermissionDenied,
        E::ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
        E::Interrupted => io::ErrorKind::Interrupted,
        E::WouldBlock => io::ErrorKind::WouldBlock,
        E::Busy => io::ErrorKind::ResourceBusy,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{code:?}"))
}

/// The names of the entries of the directory at `dir`, in no particular order.
#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
pub fn names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(name) = entry?.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}
