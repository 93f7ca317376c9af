//! How contract paths map onto the directory tree under the root — the same layout as the
//! native filesystem driver (and the reference registry's), so a directory written by one is
//! read by the other: committed content of `/a/b` is the file `<root>/a/b`, and the driver's own
//! files sit beside it under names no contract path can spell:
//!
//! - `~<name>.upload`: the staging file of the upload to `<name>`, renamed over it on commit;
//! - `~<name>.<16 hex digits>.tmp`: a file being written before it is renamed into place.
//!
//! Entries whose names are outside the contract alphabet `[A-Za-z0-9._-]` (these files,
//! `lost+found`, names with spaces) are invisible to `list`, `stat` and walks.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a non-root contract path lives under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file itself (`<root>/a/b`).
    pub full: PathBuf,
    /// Its directory (`<root>/a`).
    pub parent: PathBuf,
    /// Its last component (`b`).
    pub name: String,
}

impl Location {
    /// The location of the validated, non-root contract path `path` under `root`.
    pub fn of(root: &Path, path: &str) -> Self {
        let rel = path.trim_start_matches('/');
        let (parent, name) = match rel.rfind('/') {
            Some(i) => (root.join(&rel[..i]), &rel[i + 1..]),
            None => (root.to_path_buf(), rel),
        };
        Self {
            full: root.join(rel),
            parent,
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
            .join(format!("~{}.{:016x}.tmp", self.name, unique()))
    }

    /// Creates a new temporary file beside this path, with a fresh name should one be taken
    /// (instances of a pool write beside the same paths at once).
    pub fn create_temporary(&self) -> io::Result<(PathBuf, File)> {
        let mut attempts = 0;
        loop {
            let temporary = self.temporary();
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)
            {
                Ok(file) => return Ok((temporary, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates the parent directories.
    pub fn create_parent(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.parent)
    }

    /// Flushes the parent directory, so a rename or a new entry in it survives a crash.
    pub fn sync_parent(&self) -> io::Result<()> {
        File::open(&self.parent)?.sync_all()
    }
}

/// The host path of a contract path, the root included.
pub fn full_path(root: &Path, path: &str) -> PathBuf {
    match path.trim_start_matches('/') {
        "" => root.to_path_buf(),
        rel => root.join(rel),
    }
}

/// A number no other temporary name of this or another instance is likely to use: the
/// host-seeded hasher keys, a per-instance counter and the clock.
fn unique() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(now);
    hasher.finish()
}

/// True for directory entries that are contract path components.
pub fn is_visible(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_match_the_native_layout() {
        let l = Location::of(Path::new("/data/reg"), "/a/b/c");
        assert_eq!(l.full, PathBuf::from("/data/reg/a/b/c"));
        assert_eq!(l.parent, PathBuf::from("/data/reg/a/b"));
        assert_eq!(l.staging(), PathBuf::from("/data/reg/a/b/~c.upload"));
        let top = Location::of(Path::new("/data"), "/top");
        assert_eq!(top.parent, PathBuf::from("/data"));
        assert_eq!(top.staging(), PathBuf::from("/data/~top.upload"));
        assert_eq!(full_path(Path::new("/data"), "/"), PathBuf::from("/data"));
        assert_eq!(
            full_path(Path::new("/data"), "/x/y"),
            PathBuf::from("/data/x/y")
        );
    }

    #[test]
    fn temporary_names_are_distinct_and_invisible() {
        let l = Location::of(Path::new("/data"), "/a/data");
        let (t1, t2) = (l.temporary(), l.temporary());
        assert_ne!(t1, t2);
        let name = t1.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(
            name.starts_with("~data.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(name.len(), "~data.".len() + 16 + ".tmp".len());
        assert!(!is_visible(name));
        assert!(!is_visible("~data.upload"));
    }

    #[test]
    fn visibility_follows_the_contract_alphabet() {
        for name in ["a", "data", ".abc", "a--b", "_.abc", "1.2.3-4_z", "..."] {
            assert!(is_visible(name), "{name}");
        }
        for name in ["", ".", "..", "~a.upload", "lost+found", "a b", "ä", "a#b"] {
            assert!(!is_visible(name), "{name}");
        }
    }
}
