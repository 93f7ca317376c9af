//! How contract paths map onto the directory tree under the root: committed content of `/a/b`
//! is the file `<root>/a/b`, exactly where the reference driver keeps it, and the driver's own
//! files (an upload's staging file, `put_content`'s temporary files) sit beside it under names
//! that no contract path can spell, so listings and walks filter them out unambiguously.
//!
//! - `~<name>.upload`: the staging file of the upload to `<name>`, renamed over `<name>` on
//!   commit, resumed by `writer(path, true)`;
//! - `~<name>.<random>.tmp`: a file being written before it is renamed into place.
//!
//! A contract component is made of `[A-Za-z0-9._-]` only, so a leading `~` can never collide
//! with committed content.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions};

/// Where a (non-root) contract path lives under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// The path relative to the root (`/a/b` → `a/b`).
    pub rel: PathBuf,
    /// Its parent directory relative to the root (empty for a child of the root).
    pub parent: PathBuf,
    /// Its last component.
    pub name: String,
}

impl Location {
    /// The location of a validated, non-root contract path.
    pub fn of(path: &str) -> Self {
        let rel = path.trim_start_matches('/');
        let (parent, name) = match rel.rfind('/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => ("", rel),
        };
        Self {
            rel: PathBuf::from(rel),
            parent: PathBuf::from(parent),
            name: name.to_owned(),
        }
    }

    /// The staging file of an upload to this path.
    pub fn staging(&self) -> PathBuf {
        self.parent.join(format!("~{}.upload", self.name))
    }

    /// A fresh temporary file name beside this path.
    pub fn temporary(&self) -> PathBuf {
        self.parent
            .join(format!("~{}.{:016x}.tmp", self.name, rand::random::<u64>()))
    }

    /// Creates the parent directories (a child of the root needs none).
    pub fn create_parent(&self, root: &Dir) -> io::Result<()> {
        if self.parent.as_os_str().is_empty() {
            Ok(())
        } else {
            root.create_dir_all(&self.parent)
        }
    }

    /// Flushes the parent directory, so that a rename or a new entry in it survives a crash.
    pub fn sync_parent(&self, root: &Dir) -> io::Result<()> {
        sync_dir(root, &self.parent)
    }
}

/// The path relative to the root of a contract path; the root itself is `.`.
pub(crate) fn relative(path: &str) -> &Path {
    match path.trim_start_matches('/') {
        "" => Path::new("."),
        rel => Path::new(rel),
    }
}

/// Flushes the directory `rel` (empty or `.` for the root itself). The directory is opened for
/// reading: cap-std's own directory handles are `O_PATH` ones, which cannot be synced.
pub(crate) fn sync_dir(root: &Dir, rel: &Path) -> io::Result<()> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let mut options = OpenOptions::new();
    options.read(true);
    root.open_with(rel, &options)?.sync_all()
}

/// True for directory entries that are contract paths' components; everything else (the
/// driver's own `~` files, `lost+found`, names with spaces or non-ASCII bytes) is invisible.
pub(crate) fn is_visible(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    !bytes.is_empty()
        && bytes != b"."
        && bytes != b".."
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = Location::of("/a/b/c");
        assert_eq!(l.rel, PathBuf::from("a/b/c"));
        assert_eq!(l.parent, PathBuf::from("a/b"));
        assert_eq!(l.name, "c");
        assert_eq!(l.staging(), PathBuf::from("a/b/~c.upload"));
        let top = Location::of("/top");
        assert_eq!(top.parent, PathBuf::new());
        assert_eq!(top.staging(), PathBuf::from("~top.upload"));
        assert_eq!(relative("/"), Path::new("."));
        assert_eq!(relative("/a/b"), Path::new("a/b"));
    }

    #[test]
    fn own_files_are_invisible_and_distinct() {
        let l = Location::of("/a/data");
        let staging = l.staging();
        let (t1, t2) = (l.temporary(), l.temporary());
        assert_ne!(t1, t2);
        for own in [&staging, &t1] {
            let name = own.file_name().unwrap_or_default();
            assert!(!is_visible(name), "{own:?}");
            assert_eq!(own.parent(), Some(Path::new("a")));
        }
        assert!(t1.to_string_lossy().ends_with(".tmp"));
    }

    #[test]
    fn visibility_follows_the_contract_alphabet() {
        for name in ["a", "data", ".abc", "a--b", "_.abc", "1.2.3-4_z", "..."] {
            assert!(is_visible(OsStr::new(name)), "{name}");
        }
        for name in ["", ".", "..", "~a.upload", "lost+found", "a b", "ä", "a#b"] {
            assert!(!is_visible(OsStr::new(name)), "{name}");
        }
    }
}
