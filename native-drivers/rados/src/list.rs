//! `list` and `stat`: a directory's children come from its omap, a page of up to a thousand
//! keys per request, already in byte order; a path's kind, size and time from its entry in
//! its parent, one request.

use std::time::UNIX_EPOCH;

use wharf_runtime::path::{ROOT, join};
use wharf_runtime::{Error, FileInfo, Result};

use crate::delete::PAGE;
use crate::error::from_errno;
use crate::ffi::Errno;
use crate::layout::{Entry, Mark, dir_object, is_child_key};
use crate::store::Store;

impl Store {
    pub(crate) async fn list(&self, path: &str) -> Result<Vec<String>> {
        let object = dir_object(path);
        let mut children = Vec::new();
        let mut after = String::new();
        loop {
            let page = match self.omap_page(&object, &after, PAGE).await {
                Ok(page) => page,
                // The root always exists; anything else without an object is not a directory.
                Err(Errno::ENOENT) if path == ROOT || !after.is_empty() => return Ok(children),
                // A directory entry whose object is not there (a crash between linking a
                // directory and writing into it, or between removing an empty directory's
                // object and its entry) is an empty directory, as `walk` and `stat` show it.
                Err(Errno::ENOENT) => {
                    return match self.lookup(path, "list").await? {
                        Some((Entry::Dir(_), _)) => Ok(children),
                        _ => Err(Error::not_found(path)),
                    };
                }
                Err(e) => return Err(from_errno("list", path, e)),
            };
            let Some((last, _)) = page.entries.last() else {
                return Ok(children);
            };
            after = last.clone();
            let mut uploads_reached = false;
            for (key, raw) in page.entries {
                if is_child_key(&key) {
                    let child = join(path, &key);
                    // A move's leftover is not a file (`rename.rs`); rare, so read one by one.
                    if Mark::of(&raw).is_some()
                        && let Entry::File(meta) = Entry::decode(&raw, &child)?
                        && self.moved_on(&meta, &raw, "list").await?
                    {
                        continue;
                    }
                    children.push(child);
                } else {
                    // Upload keys sort after every child.
                    uploads_reached = true;
                    break;
                }
            }
            if uploads_reached || !page.more {
                return Ok(children);
            }
        }
    }

    pub(crate) async fn stat(&self, path: &str) -> Result<FileInfo> {
        if path == ROOT {
            return Ok(FileInfo::dir(ROOT, UNIX_EPOCH));
        }
        match self.lookup_visible(path, "stat").await? {
            Some((Entry::File(meta), _)) => Ok(FileInfo::file(path, meta.size, meta.mod_time())),
            Some((Entry::Dir(_), _)) => Ok(FileInfo::dir(path, UNIX_EPOCH)),
            None => Err(Error::not_found(path)),
        }
    }
}
