//! `delete`: a file, or a directory and everything under it, with the data of every file and
//! of every upload in progress there, so that nothing is left behind in the pool.
//!
//! A directory is emptied page by page (a thousand entries per read): the files and uploads of
//! a page go in one operation that asserts the directory's version is the one the page was
//! read at (entry by entry, each compared with what was read, when something changed it
//! meanwhile), then their data objects are removed; subdirectories are emptied the same way,
//! depth first, and unlinked only while their token is the one read (a concurrent writer that
//! linked one again keeps it). Entries are removed before their data, so a crash leaves
//! unreferenced objects at worst, never an entry without its data.

use futures::future::BoxFuture;
use wharf_runtime::path::join;
use wharf_runtime::{Error, Result};

use crate::dir::MAX_ATTEMPTS;
use crate::error::from_errno;
use crate::ffi::{Errno, WriteOp};
use crate::layout::{Entry, Mark, Upload, dir_object, is_child_key, split, upload_key};
use crate::store::Store;

/// Entries read per page.
pub(crate) const PAGE: u64 = 1000;

impl Store {
    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        let (dir, name) = split(path);
        let key = upload_key(name);
        let mut found = false;
        for _ in 0..MAX_ATTEMPTS {
            let at_path = self.read_path_entry(path, "delete").await?;
            if let Some((upload, raw)) = &at_path.upload
                && self
                    .swap(
                        dir,
                        &[(&key, Some(raw))],
                        &[],
                        std::slice::from_ref(&key),
                        "delete",
                        path,
                    )
                    .await?
            {
                self.free(upload.data, 0..upload.reserved).await;
                found = true;
            }
            match at_path.entry {
                None => break,
                Some((Entry::File(meta), raw)) => {
                    self.release(path, &meta, &raw).await?;
                    // A move's leftover is removed, but it was not a file (`rename.rs`).
                    let leftover = self.moved_on(&meta, &raw, "delete").await?;
                    let rm = [name.to_owned()];
                    if self
                        .swap(dir, &[(name, Some(&raw))], &[], &rm, "delete", path)
                        .await?
                    {
                        if !leftover {
                            self.free_file(&meta).await;
                            found = true;
                        }
                        break;
                    }
                }
                Some((Entry::Dir(_), raw)) => {
                    self.empty_dir(path).await?;
                    found = true;
                    let rm = [name.to_owned()];
                    // Linked again meanwhile by a writer: it keeps its directory.
                    self.swap(dir, &[(name, Some(&raw))], &[], &rm, "delete", path)
                        .await?;
                    break;
                }
            }
        }
        if !found {
            return Err(Error::not_found(path));
        }
        self.deletion_log.record(path);
        self.prune(dir).await;
        Ok(())
    }

    /// Removes everything in the directory `dir`, then its object if it is empty.
    fn empty_dir<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let object = dir_object(dir);
            let mut after = String::new();
            loop {
                let page = match self.omap_page(&object, &after, PAGE).await {
                    Ok(page) => page,
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(from_errno("delete", dir, e)),
                };
                let Some((last, _)) = page.entries.last() else {
                    break;
                };
                after = last.clone();
                let mut leaves = Vec::new();
                let mut subdirs = Vec::new();
                for (key, raw) in page.entries {
                    if is_child_key(&key) {
                        let path = join(dir, &key);
                        match Entry::decode(&raw, &path)? {
                            Entry::File(meta) => leaves.push((key, raw, Leaf::File(meta))),
                            Entry::Dir(_) => subdirs.push((key, raw)),
                        }
                    } else {
                        let upload = Upload::decode(&raw, &join(dir, &key))?;
                        leaves.push((key, raw, Leaf::Upload(upload)));
                    }
                }
                self.remove_leaves(dir, page.version, leaves).await?;
                for (name, raw) in subdirs {
                    let child = join(dir, &name);
                    self.empty_dir(&child).await?;
                    let rm = [name.clone()];
                    self.swap(dir, &[(&name, Some(&raw))], &[], &rm, "delete", &child)
                        .await?;
                }
                if !page.more {
                    break;
                }
            }
            match self.omap_page(&object, "", 1).await {
                Ok(page) if page.entries.is_empty() => {
                    let remove = WriteOp::new()
                        .assert_version(page.version)
                        .remove()
                        .full_try();
                    // Written to meanwhile: it stays, with what was written.
                    let _ = self.write_dir(&object, remove).await;
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Removes files and uploads of one page of `dir`, then their data.
    async fn remove_leaves(
        &self,
        dir: &str,
        version: u64,
        leaves: Vec<(String, Vec<u8>, Leaf)>,
    ) -> Result<()> {
        if leaves.is_empty() {
            return Ok(());
        }
        let object = dir_object(dir);
        // Files that came by a move first lose their leftovers (`rename.rs`).
        for (key, raw, leaf) in &leaves {
            if let Leaf::File(meta) = leaf {
                self.release(&join(dir, key), meta, raw).await?;
            }
        }
        let keys: Vec<String> = leaves.iter().map(|(k, _, _)| k.clone()).collect();
        let batch = WriteOp::new()
            .assert_version(version)
            .omap_rm(keys)
            .full_try();
        let removed: Vec<&(String, Vec<u8>, Leaf)> = match self.write_dir(&object, batch).await {
            Ok(_) => leaves.iter().collect(),
            Err(Errno::ENOENT) => return Ok(()),
            // Changed since the page was read: entry by entry, each as it was read.
            Err(Errno::ERANGE | Errno::EOVERFLOW) => {
                let mut removed = Vec::new();
                for removable in &leaves {
                    let (key, raw, _) = removable;
                    let rm = [key.clone()];
                    if self
                        .swap(dir, &[(key, Some(raw))], &[], &rm, "delete", dir)
                        .await?
                    {
                        removed.push(removable);
                    }
                }
                removed
            }
            Err(e) => return Err(from_errno("delete", dir, e)),
        };
        let mut contents = Vec::with_capacity(removed.len());
        for (_, raw, leaf) in removed {
            match leaf {
                Leaf::File(meta) => {
                    // A move's leftover: the destination holds the content.
                    if Mark::of(raw).is_some() && self.moved_on(meta, raw, "delete").await? {
                        continue;
                    }
                    contents.push((meta.data, 0..meta.chunks()));
                }
                Leaf::Upload(upload) => contents.push((upload.data, 0..upload.reserved)),
            }
        }
        self.free_all(contents).await;
        Ok(())
    }
}

/// What a removed key held data for.
enum Leaf {
    File(crate::layout::FileMeta),
    Upload(Upload),
}
