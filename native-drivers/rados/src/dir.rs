//! The namespace: entries in directory objects, changed only by compare-and-swap, and
//! directories linked into their parents and unlinked when they empty.
//!
//! Every change of an entry is one atomic operation on one directory object that first compares
//! the entries it depends on with what was read (`omap_cmp`; a missing key compares as the empty
//! value), so a concurrent change makes it fail rather than be lost, and the loser reads again.
//! A directory object that does not exist yet is created in an operation that fails if it does
//! exist (`create_exclusive`).
//!
//! Directories hold each other by entries whose value is a random token. Linking ([`Store::link`])
//! climbs from a directory to the root, writing a fresh token into each parent, *after* the
//! entry below was written. Unlinking ([`Store::prune`]) climbs too: it reads the token in the
//! parent, then checks the directory is empty and removes its object only at the version it
//! saw empty, then removes the parent's entry only if it still holds the token it read. A
//! concurrent writer into the directory either lands before the emptiness check (the directory
//! is not empty), or between the check and the removal (the version changed and the removal
//! fails), or after the removal — and then its new token reaches the parent after the pruner
//! read the old one, so the pruner's last step fails and the link stays. No interleaving leaves
//! a file in a directory that its parent does not list, however many directories are created
//! and pruned at once.
//!
//! For crashes, `put_content` and `move` also link *before* writing the entry (`content.rs`,
//! `rename.rs`), so that a crash between never leaves a file in an unlisted directory (an
//! upload's directory is linked when the upload starts, and its record keeps the directory from
//! being pruned until the commit replaces the record with the file). A crash can leave a
//! directory entry without its object (between that first link and the entry's write, or in a
//! prune between the object's removal and the entry's), which every reader takes for an empty
//! directory (`list.rs`, `walk.rs`).

use wharf_runtime::path::ROOT;
use wharf_runtime::{Error, Result};

use crate::error::from_errno;
use crate::ffi::{Cmp, Errno, WriteOp};
use crate::layout::{Entry, FILE_BOUND, Upload, dir_object, split, upload_key};
use crate::store::Store;

/// How often a compare-and-swap is retried against concurrent changes before giving up.
pub(crate) const MAX_ATTEMPTS: usize = 64;

/// The child and the upload at one path, as read from its directory.
#[derive(Debug, Default)]
pub(crate) struct PathEntry {
    /// The child and its raw value.
    pub entry: Option<(Entry, Vec<u8>)>,
    /// The upload in progress and its raw value.
    pub upload: Option<(Upload, Vec<u8>)>,
}

/// `path` is a directory where a file is needed.
pub(crate) fn is_a_directory(path: &str) -> Error {
    Error::backend(format!("{path} is a directory"))
}

/// `path` is a file where a directory is needed.
pub(crate) fn not_a_directory(path: &str) -> Error {
    Error::backend(format!("{path} is a file, not a directory"))
}

/// Too much contention on one entry.
pub(crate) fn contended(op: &str, path: &str) -> Error {
    Error::temporary(format!(
        "{op} {path}: the entry kept changing under {MAX_ATTEMPTS} attempts"
    ))
}

impl Store {
    /// The child at `path` (not the root).
    pub(crate) async fn lookup(&self, path: &str, op: &str) -> Result<Option<(Entry, Vec<u8>)>> {
        let (dir, name) = split(path);
        match self.omap_get(&dir_object(dir), &[name]).await {
            Ok(read) => match read.entries.into_iter().find(|(k, _)| k == name) {
                Some((_, raw)) => Ok(Some((Entry::decode(&raw, path)?, raw))),
                None => Ok(None),
            },
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(from_errno(op, path, e)),
        }
    }

    /// The child and the upload at `path`, in one request.
    pub(crate) async fn read_path_entry(&self, path: &str, op: &str) -> Result<PathEntry> {
        let (dir, name) = split(path);
        let key = upload_key(name);
        let read = match self.omap_get(&dir_object(dir), &[name, &key]).await {
            Ok(read) => read,
            Err(Errno::ENOENT) => return Ok(PathEntry::default()),
            Err(e) => return Err(from_errno(op, path, e)),
        };
        let mut at_path = PathEntry::default();
        for (k, raw) in read.entries {
            if k == name {
                at_path.entry = Some((Entry::decode(&raw, path)?, raw));
            } else if k == key {
                at_path.upload = Some((Upload::decode(&raw, path)?, raw));
            }
        }
        Ok(at_path)
    }

    /// One compare-and-swap on the directory `dir`: if every key in `guards` holds the given
    /// value (`None`: missing), sets `set` and removes `rm`, atomically. True when applied,
    /// false when a guard failed. A missing directory object holds no key; it is created when
    /// something is to be set.
    pub(crate) async fn swap(
        &self,
        dir: &str,
        guards: &[(&str, Option<&[u8]>)],
        set: &[(String, Vec<u8>)],
        rm: &[String],
        op: &str,
        path: &str,
    ) -> Result<bool> {
        let object = dir_object(dir);
        for _ in 0..MAX_ATTEMPTS {
            let mut write = WriteOp::new();
            for (key, expected) in guards {
                write = write.omap_cmp(key, Cmp::Eq, expected.unwrap_or_default());
            }
            if !set.is_empty() {
                write = write.omap_set(set.to_vec());
            }
            if !rm.is_empty() {
                write = write.omap_rm(rm.to_vec()).full_try();
            }
            match self.write_dir(&object, write).await {
                Ok(_) => return Ok(true),
                Err(Errno::ECANCELED) => return Ok(false),
                Err(Errno::ENOENT) => {
                    if guards.iter().any(|(_, expected)| expected.is_some()) {
                        return Ok(false);
                    }
                    if set.is_empty() {
                        // Nothing to set, and what was to go is not there.
                        return Ok(true);
                    }
                    let create = WriteOp::new().create_exclusive().omap_set(set.to_vec());
                    match self.write_dir(&object, create).await {
                        Ok(_) => return Ok(true),
                        // Someone created it meanwhile: compare again.
                        Err(Errno::EEXIST) => continue,
                        Err(e) => return Err(from_errno(op, path, e)),
                    }
                }
                Err(e) => return Err(from_errno(op, path, e)),
            }
        }
        Err(contended(op, path))
    }

    /// Links the directory `dir` into its parent, and so on up to the root, each with a fresh
    /// token, bottom-up (see the module docs). Fails if an ancestor is a file.
    pub(crate) async fn link(&self, dir: &str, op: &str, path: &str) -> Result<()> {
        let mut child = dir;
        // After creating a directory object, its parent is likely missing too.
        let mut expect_missing = false;
        while child != ROOT {
            let (parent, name) = split(child);
            let object = dir_object(parent);
            let set = vec![(name.to_owned(), Entry::new_dir().encode())];
            let mut attempts = 0;
            loop {
                attempts += 1;
                if attempts > MAX_ATTEMPTS {
                    return Err(contended(op, path));
                }
                let write = if expect_missing {
                    WriteOp::new().create_exclusive().omap_set(set.clone())
                } else {
                    // Missing or a directory (never a file): see `layout`'s value encoding.
                    WriteOp::new()
                        .omap_cmp(name, Cmp::Lt, FILE_BOUND)
                        .omap_set(set.clone())
                };
                match self.write_dir(&object, write).await {
                    Ok(_) => break,
                    Err(Errno::EEXIST) if expect_missing => expect_missing = false,
                    Err(Errno::ENOENT) if !expect_missing => expect_missing = true,
                    Err(Errno::ECANCELED) => return Err(not_a_directory(child)),
                    Err(e) => return Err(from_errno(op, path, e)),
                }
            }
            child = parent;
        }
        Ok(())
    }

    /// Removes `dir` if it is empty, then its parent if that is empty then, and so on up to the
    /// root (see the module docs). Best effort: a directory that stays costs one object and
    /// goes with the next prune or delete, so failures are logged, not returned.
    pub(crate) async fn prune(&self, dir: &str) {
        let mut dir = dir.to_owned();
        loop {
            let object = dir_object(&dir);
            // The parent's token first.
            let token = if dir == ROOT {
                None
            } else {
                let (parent, name) = split(&dir);
                match self.omap_get(&dir_object(parent), &[name]).await {
                    Ok(read) => read.entries.into_iter().next().map(|(_, raw)| raw),
                    Err(Errno::ENOENT) => None,
                    Err(e) => {
                        tracing::debug!(dir, error = %format_args!("{e:#}"), "prune: cannot read the parent entry");
                        return;
                    }
                }
            };
            match self.omap_page(&object, "", 1).await {
                Ok(page) if !page.entries.is_empty() => return,
                Ok(page) => {
                    let remove = WriteOp::new()
                        .assert_version(page.version)
                        .remove()
                        .full_try();
                    if let Err(e) = self.write_dir(&object, remove).await {
                        // Changed or gone meanwhile: whoever changed it carries on.
                        tracing::trace!(dir, error = %format_args!("{e:#}"), "prune: directory changed");
                        return;
                    }
                }
                // Already gone; its parent entry (if any) is stale.
                Err(Errno::ENOENT) => {}
                Err(e) => {
                    tracing::debug!(dir, error = %format_args!("{e:#}"), "prune: cannot read the directory");
                    return;
                }
            }
            if dir == ROOT {
                return;
            }
            let (parent, name) = split(&dir);
            let Some(token) = token.filter(|t| t.as_slice() < FILE_BOUND && !t.is_empty()) else {
                return;
            };
            let unlink = WriteOp::new()
                .omap_cmp(name, Cmp::Eq, &token)
                .omap_rm(vec![name.to_owned()])
                .full_try();
            if let Err(e) = self.write_dir(&dir_object(parent), unlink).await {
                tracing::trace!(dir, error = %format_args!("{e:#}"), "prune: relinked meanwhile");
                return;
            }
            dir = parent.to_owned();
        }
    }
}
