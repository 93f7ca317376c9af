//! A native walk that follows the directory omaps in order: omap keys are sorted by byte order,
//! which is the contract's sibling order, so a depth-first descent that reads each directory a
//! page (a thousand entries) at a time yields the contract's walk order with one request per
//! page, and the entries' values give every `FileInfo` without a `stat`.
//!
//! `start_after` is applied with [`wharf_runtime::walk::position_after`], as every driver does: a
//! subtree wholly before the marker is never read. An entry deleted through this process after
//! its page was read is skipped (the store's [`wharf_runtime::deletion_log`]).

use std::collections::VecDeque;
use std::time::UNIX_EPOCH;

use wharf_runtime::path::{ROOT, join};
use wharf_runtime::walk::{Position, position_after};
use wharf_runtime::{Error, FileInfo, Result, Visitor, WalkControl, WalkOptions};

use crate::delete::PAGE;
use crate::error::from_errno;
use crate::ffi::Errno;
use crate::layout::{Entry, Mark, dir_object, is_child_key};
use crate::store::Store;
use wharf_runtime::deletion_log::Verdict;

/// One directory being walked.
struct Frame {
    dir: String,
    /// The rest of the current page.
    entries: VecDeque<(String, Vec<u8>)>,
    /// Where the next page starts; `None` once the directory is read to its end.
    next_after: Option<String>,
    /// The deletion log's mark when the current page was read.
    since: u64,
}

impl Frame {
    fn new(dir: String) -> Self {
        Frame {
            dir,
            entries: VecDeque::new(),
            next_after: Some(String::new()),
            since: 0,
        }
    }
}

impl Store {
    pub(crate) async fn walk(
        &self,
        root: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        if root != ROOT {
            match self.lookup_visible(root, "walk").await? {
                Some((Entry::Dir(_), _)) => {}
                _ => return Err(Error::not_found(root)),
            }
        }
        let start_after = options.start_after.as_deref();
        let mut stack = vec![Frame::new(root.to_owned())];
        while let Some(frame) = stack.last_mut() {
            let Some((name, raw)) = frame.entries.pop_front() else {
                match frame.next_after.take() {
                    Some(after) => self.read_page(frame, &after).await?,
                    None => {
                        stack.pop();
                    }
                }
                continue;
            };
            let path = join(&frame.dir, &name);
            let place = position_after(&path, start_after);
            if place == Position::Skip {
                continue;
            }
            let entry = match self.deletion_log.since(frame.since, &path) {
                Verdict::Deleted => continue,
                Verdict::NotDeleted => match Entry::decode(&raw, &path)? {
                    // A move's leftover is not a file (`rename.rs`).
                    Entry::File(meta)
                        if Mark::of(&raw).is_some()
                            && self.moved_on(&meta, &raw, "walk").await? =>
                    {
                        continue;
                    }
                    entry => entry,
                },
                Verdict::Unknown => match self.lookup_visible(&path, "walk").await? {
                    Some((entry, _)) => entry,
                    None => continue,
                },
            };
            let info = match &entry {
                Entry::File(meta) => FileInfo::file(&path, meta.size, meta.mod_time()),
                Entry::Dir(_) => FileInfo::dir(&path, UNIX_EPOCH),
            };
            let descend = match place {
                Position::Emit => match visitor(&info)? {
                    WalkControl::Stop => return Ok(()),
                    WalkControl::SkipDir => false,
                    WalkControl::Continue => info.is_dir,
                },
                _ => info.is_dir,
            };
            if descend {
                stack.push(Frame::new(path));
            }
        }
        Ok(())
    }

    /// Reads the page of `frame`'s directory after `after` into the frame.
    async fn read_page(&self, frame: &mut Frame, after: &str) -> Result<()> {
        frame.since = self.deletion_log.mark();
        let page = match self.omap_page(&dir_object(&frame.dir), after, PAGE).await {
            Ok(page) => page,
            // Removed since its entry was read: nothing left under it.
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(from_errno("walk", &frame.dir, e)),
        };
        let last = page.entries.last().map(|(k, _)| k.clone());
        let mut uploads_reached = false;
        for (key, raw) in page.entries {
            if is_child_key(&key) {
                frame.entries.push_back((key, raw));
            } else {
                // Upload keys sort after every child.
                uploads_reached = true;
                break;
            }
        }
        if page.more && !uploads_reached {
            frame.next_after = last;
        }
        Ok(())
    }
}
