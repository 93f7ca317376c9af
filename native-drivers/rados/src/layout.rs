//! How the contract's tree is laid out in a pool (README.md, "Layout on the cluster"): object
//! names and the encoding of omap values.
//!
//! - A directory `D` is the object `wharf.dir:D` (the root is `wharf.dir:/`). Its omap holds one
//!   key per child, the child's name, whose value says what the child is ([`Entry`]): a file
//!   (where its data is, its size, chunk size and modification time) or a directory (a random
//!   token that changes whenever something links the directory again, see `dir.rs`). Keys of
//!   uploads in progress in `D` start with `~`, which sorts after every valid name, so a listing
//!   reads names first and stops at the first `~`.
//! - A file's content is striped over objects of its chunk size, `wharf.data.<id>.<index>`,
//!   where `<id>` is 32 hex digits drawn at random for each content (never reused) and
//!   `<index>` is the chunk's index in hex. An empty file has no data object.
//!
//! Values are short ASCII texts with a version tag, readable with `rados listomapvals`. Every
//! directory value begins with `d` and every file value with `f`, so that `value < "e"` (an omap
//! comparison) tells "missing or a directory" from "a file".

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wharf_runtime::path::ROOT;
use wharf_runtime::{Error, Result};

/// The prefix of directory objects.
pub(crate) const DIR_PREFIX: &str = "wharf.dir:";
/// The prefix of data objects.
pub(crate) const DATA_PREFIX: &str = "wharf.data.";
/// The prefix of upload keys in a directory's omap.
pub(crate) const UPLOAD_PREFIX: &str = "~upload:";
/// Values below this are missing or directories; at or above it, files.
pub(crate) const FILE_BOUND: &[u8] = b"e";

/// The directory object of the directory `path`.
pub(crate) fn dir_object(path: &str) -> String {
    format!("{DIR_PREFIX}{path}")
}

/// The omap key of an upload in progress to the child `name`.
pub(crate) fn upload_key(name: &str) -> String {
    format!("{UPLOAD_PREFIX}{name}")
}

/// True for the omap keys that are children (not uploads).
pub(crate) fn is_child_key(key: &str) -> bool {
    !key.starts_with('~')
}

/// The directory a path lives in and its name there (`/a/b` → `/a`, `b`).
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => (ROOT, &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (ROOT, path),
    }
}

/// The identity of one content: the name stem of its data objects.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DataId(u128);

impl DataId {
    /// A fresh, random id (never reused: 128 random bits).
    pub(crate) fn new() -> Self {
        DataId(rand::random())
    }

    /// The data object of chunk `index`.
    pub(crate) fn object(&self, index: u64) -> String {
        format!("{DATA_PREFIX}{self}.{index:08x}")
    }

    fn parse(s: &str) -> Option<Self> {
        (s.len() == 32)
            .then(|| u128::from_str_radix(s, 16).ok())
            .flatten()
            .map(DataId)
    }
}

impl fmt::Display for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for DataId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataId({self})")
    }
}

/// How many chunk objects `size` bytes take.
pub(crate) fn chunks(size: u64, chunk: u64) -> u64 {
    size.div_ceil(chunk.max(1))
}

/// A file's entry: where its content is and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub data: DataId,
    pub size: u64,
    /// The chunk size the content was striped with (the driver's setting when it was written).
    pub chunk: u64,
    /// Nanoseconds since the epoch, from the writing client's clock.
    pub mtime_ns: u64,
}

impl FileMeta {
    pub(crate) fn mod_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.mtime_ns)
    }

    /// The number of data objects.
    pub(crate) fn chunks(&self) -> u64 {
        chunks(self.size, self.chunk)
    }
}

/// The current time as stored in entries.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What a child key's value says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    File(FileMeta),
    /// A directory, with the token of its last linking.
    Dir(u64),
}

impl Entry {
    /// A directory entry with a fresh token.
    pub(crate) fn new_dir() -> Self {
        Entry::Dir(rand::random())
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Entry::File(m) => {
                format!("f1 {} {} {} {}", m.data, m.size, m.chunk, m.mtime_ns).into_bytes()
            }
            Entry::Dir(token) => format!("d1 {token:016x}").into_bytes(),
        }
    }

    /// Decodes a value read from `path`'s directory.
    pub(crate) fn decode(value: &[u8], path: &str) -> Result<Self> {
        let text = std::str::from_utf8(value).ok();
        // A file's value may end with a move mark (see [`Mark`]), a path that may hold spaces.
        let parts: Vec<&str> = text.map(|t| t.splitn(6, ' ').collect()).unwrap_or_default();
        let parts = match parts.as_slice() {
            ["f1", data, size, chunk, mtime, mark] if Mark::parse(mark).is_some() => {
                vec!["f1", *data, *size, *chunk, *mtime]
            }
            _ => parts,
        };
        let parsed = match parts.as_slice() {
            ["f1", data, size, chunk, mtime] => (|| {
                Some(Entry::File(FileMeta {
                    data: DataId::parse(data)?,
                    size: size.parse().ok()?,
                    chunk: chunk.parse().ok().filter(|c| *c > 0)?,
                    mtime_ns: mtime.parse().ok()?,
                }))
            })(),
            ["d1", token] => u64::from_str_radix(token, 16).ok().map(Entry::Dir),
            _ => None,
        };
        parsed.ok_or_else(|| corrupt("entry", path, value))
    }
}

/// The mark a cross-directory move leaves on a file's value (after its five fields), so that
/// the two entries that hold one content while the move runs (or after a crash in it) are never
/// both files (README.md, "Consistency"; `rename.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mark {
    /// On the source (` >dest`): the content is moving to `dest`. This entry is a file only
    /// while `dest` does not hold the same content; once it does, it is a leftover that
    /// nothing shows and whatever replaces it does not free the content.
    To(String),
    /// On the destination (` <source`): the content came from `source`. Before this entry
    /// changes, a leftover at `source` (marked `To` this path, with this content) is removed,
    /// so that it can never become a file again once the content is freed or moved on.
    From(String),
}

impl Mark {
    fn parse(text: &str) -> Option<Self> {
        if let Some(path) = text.strip_prefix('>') {
            path.starts_with('/').then(|| Mark::To(path.to_owned()))
        } else if let Some(path) = text.strip_prefix('<') {
            path.starts_with('/').then(|| Mark::From(path.to_owned()))
        } else {
            None
        }
    }

    /// The mark of a file's raw value, if any.
    pub(crate) fn of(raw: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(raw).ok()?;
        if !text.starts_with("f1 ") {
            return None;
        }
        let parts: Vec<&str> = text.splitn(6, ' ').collect();
        match parts.as_slice() {
            [_, _, _, _, _, mark] => Mark::parse(mark),
            _ => None,
        }
    }

    /// The value of the file `meta` with this mark.
    pub(crate) fn on(&self, meta: FileMeta) -> Vec<u8> {
        let mut value = Entry::File(meta).encode();
        let (sign, path) = match self {
            Mark::To(path) => (" >", path),
            Mark::From(path) => (" <", path),
        };
        value.extend_from_slice(sign.as_bytes());
        value.extend_from_slice(path.as_bytes());
        value
    }
}

/// An upload in progress: its content's id, chunk size, the bytes persisted so far, and how
/// many chunk objects it may have written (every chunk object of an upload lies below
/// `reserved`, so cancelling knows what to remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Upload {
    pub data: DataId,
    pub chunk: u64,
    pub size: u64,
    pub reserved: u64,
}

impl Upload {
    pub(crate) fn new(chunk: u64) -> Self {
        Upload {
            data: DataId::new(),
            chunk,
            size: 0,
            reserved: 0,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        format!(
            "u1 {} {} {} {}",
            self.data, self.chunk, self.size, self.reserved
        )
        .into_bytes()
    }

    pub(crate) fn decode(value: &[u8], path: &str) -> Result<Self> {
        let text = std::str::from_utf8(value).ok();
        let parts: Vec<&str> = text.map(|t| t.split(' ').collect()).unwrap_or_default();
        let parsed = match parts.as_slice() {
            ["u1", data, chunk, size, reserved] => (|| {
                Some(Upload {
                    data: DataId::parse(data)?,
                    chunk: chunk.parse().ok().filter(|c| *c > 0)?,
                    size: size.parse().ok()?,
                    reserved: reserved.parse().ok()?,
                })
            })(),
            _ => None,
        };
        parsed.ok_or_else(|| corrupt("upload record", path, value))
    }
}

fn corrupt(what: &str, path: &str, value: &[u8]) -> Error {
    let shown: String = String::from_utf8_lossy(value).chars().take(80).collect();
    Error::backend(format!(
        "{path}: unreadable {what} in the cluster: {shown:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(dir_object("/"), "wharf.dir:/");
        assert_eq!(dir_object("/a/b"), "wharf.dir:/a/b");
        assert_eq!(upload_key("x.y"), "~upload:x.y");
        assert!(is_child_key("x.y") && !is_child_key("~upload:x"));
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/a/b/c"), ("/a/b", "c"));
        let id = DataId(0xab);
        assert_eq!(
            id.object(0x1f),
            "wharf.data.000000000000000000000000000000ab.0000001f"
        );
        assert_eq!(chunks(0, 4), 0);
        assert_eq!(chunks(4, 4), 1);
        assert_eq!(chunks(5, 4), 2);
    }

    #[test]
    fn entries_round_trip_and_sort_around_the_bound() {
        let file = Entry::File(FileMeta {
            data: DataId::new(),
            size: 12,
            chunk: 4 << 20,
            mtime_ns: 1_700_000_000_123_456_789,
        });
        let dir = Entry::new_dir();
        for e in [&file, &dir] {
            assert_eq!(&Entry::decode(&e.encode(), "/x").unwrap(), e);
        }
        assert!(dir.encode().as_slice() < FILE_BOUND);
        assert!(b"".as_slice() < FILE_BOUND);
        assert!(file.encode().as_slice() > FILE_BOUND);
        if let Entry::File(meta) = &file {
            for mark in [Mark::To("/a b/c".into()), Mark::From("/x".into())] {
                let raw = mark.on(*meta);
                assert_eq!(Entry::decode(&raw, "/x").unwrap(), file);
                assert_eq!(Mark::of(&raw), Some(mark));
                assert!(raw.as_slice() > FILE_BOUND);
            }
            assert_eq!(Mark::of(&file.encode()), None);
        }
        let up = Upload {
            reserved: 8,
            size: 3,
            ..Upload::new(1 << 20)
        };
        assert_eq!(Upload::decode(&up.encode(), "/x").unwrap(), up);
    }

    #[test]
    fn corrupt_values_are_errors_naming_the_path() {
        for bad in [&b"f1 zz 1 2 3"[..], b"d1", b"x", b"\xff", b"f1 00 1 0 3"] {
            let e = Entry::decode(bad, "/a/b").unwrap_err();
            assert!(e.to_string().contains("/a/b"), "{e}");
        }
        assert!(Upload::decode(b"u1 x", "/u").is_err());
    }
}
