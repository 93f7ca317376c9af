//! Whole files: `get_content`, `put_content`, and the entry switch that `put_content`, a
//! writer's commit and `move` share.
//!
//! `put_content` writes the new content under a fresh data id first, then switches the entry to
//! it in one compare-and-swap (a reader sees the old entry or the new one, never a mix), then
//! links the directory into its parents, and only then frees the content the entry held
//! before. A crash between those steps leaves at worst unreferenced data objects (README.md,
//! "Consistency"), never an entry pointing at missing data.
//!
//! A reader that finds a chunk gone (its file was replaced and the old content freed between
//! reading the entry and reading the chunk) reads the entry again and starts over.

use bytes::Bytes;
use wharf_runtime::{Error, Result};

use crate::data::ReadFailure;
use crate::dir::{MAX_ATTEMPTS, contended, is_a_directory};
use crate::error::from_errno;
use crate::layout::{DataId, Entry, FileMeta, now_ns, split, upload_key};
use crate::store::Store;

/// How often a read starts over because the file was replaced while it ran.
const READ_RESTARTS: usize = 8;

/// The outcome of [`Store::switch_entry`].
#[derive(Debug)]
pub(crate) enum Switched {
    /// The entry now holds the new value; this file (and its raw value) was there before.
    Done {
        replaced: Option<(FileMeta, Vec<u8>)>,
    },
    /// The extra guard no longer held (nothing changed).
    GuardFailed,
}

/// Maps a failed chunk read.
pub(crate) fn read_error(op: &str, path: &str, failure: ReadFailure) -> Error {
    match failure {
        ReadFailure::Missing => {
            Error::backend(format!("{op} {path}: a data object of the file is missing"))
        }
        ReadFailure::Short { expected, got } => Error::backend(format!(
            "{op} {path}: a data object holds {got} bytes where the entry says {expected}"
        )),
        ReadFailure::Rados(e) => from_errno(op, path, e),
    }
}

impl Store {
    /// The file at `path` (`PathNotFound` when missing or a directory).
    pub(crate) async fn file(&self, path: &str, op: &str) -> Result<FileMeta> {
        match self.lookup_visible(path, op).await? {
            Some((Entry::File(meta), _)) => Ok(meta),
            _ => Err(Error::not_found(path)),
        }
    }

    pub(crate) async fn get_content(&self, path: &str) -> Result<Bytes> {
        let mut last: Option<FileMeta> = None;
        for _ in 0..READ_RESTARTS {
            let meta = self.file(path, "get_content").await?;
            match self.read_content(&meta).await {
                Ok(content) => return Ok(content),
                // Replaced meanwhile, unless the entry did not change.
                Err(ReadFailure::Missing) if last != Some(meta) => last = Some(meta),
                Err(failure) => return Err(read_error("get_content", path, failure)),
            }
        }
        Err(Error::temporary(format!(
            "get_content {path}: the file was replaced {READ_RESTARTS} times while being read"
        )))
    }

    pub(crate) async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        let meta = FileMeta {
            data: DataId::new(),
            size: content.len() as u64,
            chunk: self.chunk,
            mtime_ns: now_ns(),
        };
        self.write_content(meta.data, meta.chunk, &content)
            .await
            .map_err(|e| from_errno("put_content", path, e))?;
        self.install(path, meta, "put_content").await
    }

    /// Makes the written content `meta` the file at `path`: links the directory, switches the
    /// entry, links the directory again, frees what the entry held before. On failure nothing
    /// refers to `meta` and its data is freed.
    ///
    /// The first link makes the directory reachable before the file appears in it, so that a
    /// crash never leaves a file that reads but is not listed (at worst a directory entry
    /// whose object is not there yet, which `list` shows as empty). The second one is for a
    /// concurrent prune that unlinked the directory between the first link and the switch
    /// (see `dir.rs`).
    pub(crate) async fn install(&self, path: &str, meta: FileMeta, op: &str) -> Result<()> {
        let entry = Entry::File(meta);
        let (dir, name) = split(path);
        if let Err(e) = self.link(dir, op, path).await {
            // An ancestor is a file: nothing refers to the content; undo what was linked.
            self.free_file(&meta).await;
            self.prune(dir).await;
            return Err(e);
        }
        let replaced = match self.switch_entry(path, &entry.encode(), None, op).await {
            Ok(Switched::Done { replaced }) => replaced,
            Ok(Switched::GuardFailed) => unreachable!("no extra guard was given"),
            Err(e) => {
                self.free_file(&meta).await;
                self.prune(dir).await;
                return Err(e);
            }
        };
        if let Err(e) = self.link(dir, op, path).await {
            // An ancestor is a file: take the entry back out (putting back what it replaced).
            let ours = entry.encode();
            let (set, rm) = match &replaced {
                Some((_, old)) => (vec![(name.to_owned(), old.clone())], vec![]),
                None => (vec![], vec![name.to_owned()]),
            };
            if let Ok(true) = self
                .swap(dir, &[(name, Some(&ours))], &set, &rm, op, path)
                .await
            {
                self.free_file(&meta).await;
                self.prune(dir).await;
            }
            return Err(e);
        }
        if let Some((old, raw)) = replaced
            && old.data != meta.data
        {
            self.free_replaced(&old, &raw).await;
        }
        Ok(())
    }

    /// Sets the entry at `path` to the file value `value` in place of the file (or nothing) it
    /// holds, in one compare-and-swap; with `upload`, only while the upload record at `path`
    /// holds that value, removing the record in the same step. A directory at `path` is an
    /// error. A file that came by a move is first released from its source (`rename.rs`).
    pub(crate) async fn switch_entry(
        &self,
        path: &str,
        value: &[u8],
        upload: Option<&[u8]>,
        op: &str,
    ) -> Result<Switched> {
        let (dir, name) = split(path);
        let key = upload_key(name);
        let set = [(name.to_owned(), value.to_vec())];
        let rm: Vec<String> = upload.iter().map(|_| key.clone()).collect();
        // Optimistic: most files are new.
        let mut expected: Option<(FileMeta, Vec<u8>)> = None;
        for _ in 0..MAX_ATTEMPTS {
            let mut guards: Vec<(&str, Option<&[u8]>)> =
                vec![(name, expected.as_ref().map(|(_, raw)| raw.as_slice()))];
            if let Some(record) = upload {
                guards.push((&key, Some(record)));
            }
            if let Some((meta, raw)) = &expected {
                self.release(path, meta, raw).await?;
            }
            if self.swap(dir, &guards, &set, &rm, op, path).await? {
                return Ok(Switched::Done { replaced: expected });
            }
            let at_path = self.read_path_entry(path, op).await?;
            if let Some(record) = upload
                && at_path.upload.as_ref().map(|(_, raw)| raw.as_slice()) != Some(record)
            {
                return Ok(Switched::GuardFailed);
            }
            expected = match at_path.entry {
                None => None,
                Some((Entry::File(meta), raw)) => Some((meta, raw)),
                Some((Entry::Dir(_), _)) => return Err(is_a_directory(path)),
            };
        }
        Err(contended(op, path))
    }
}
