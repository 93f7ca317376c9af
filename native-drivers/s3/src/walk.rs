//! A native walk on flat listings: ListObjectsV2 without a delimiter, one request per thousand
//! keys, directories derived from the keys' prefixes.
//!
//! S3 lists keys in byte order of the whole key, which is not the contract's walk order: `/` sorts
//! after `-` and `.`, so S3 lists `a-b` and `a.b` before `a/x`, while the walk wants the
//! directory `a` and its contents first. The walk therefore keeps entries in a buffer ordered the
//! contract's way (a path's bytes with `/` read as the smallest byte) and emits an entry only
//! once no key still to come can sort before it: after the last key listed, `L`, every key yet
//! to come is greater than `L`, and the only ones that sort before `L` in walk order share
//! `L`'s bytes up to a `-`, `.` (or other byte below `/`) and have a `/` there instead. So
//! entries before `L` cut at its first byte below `/` are final (all of them, at the end of the
//! listing). Registry trees seldom have such sibling names, so the buffer stays small.
//!
//! `start_after` starts the listing after its first component (keys before that precede it in
//! walk order too) and filters the rest with [`wharf_runtime::walk::position_after`], like every
//! other driver. A skipped directory's entries are dropped, and when the listing is inside it,
//! the next request starts after it. An entry deleted through this process after its page was
//! listed is skipped (the bucket's [`wharf_runtime::deletion_log`]).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::{SystemTime, UNIX_EPOCH};

use wharf_runtime::path::{ROOT, is_ancestor, join, walk_order};
use wharf_runtime::walk::{Position, position_after};
use wharf_runtime::{Error, FileInfo, Result, Visitor, WalkControl, WalkOptions};

use crate::error::from_sdk;
use crate::layout::name_is_visible;
use crate::{Bucket, PAGE};
use wharf_runtime::deletion_log::Verdict;

/// A path's sort key in walk order: its bytes, with `/` as the smallest byte.
fn order_key(path: &str) -> Vec<u8> {
    path.bytes()
        .map(|b| if b == b'/' { 0 } else { b })
        .collect()
}

/// An entry waiting to be emitted, with the point in the deletion log when it was listed.
struct Pending {
    info: FileInfo,
    since: u64,
}

/// Where the walk's buffer stands.
struct Walker<'a> {
    s: &'a Bucket,
    root: &'a str,
    prefix: String,
    start_after: Option<&'a str>,
    pending: BTreeMap<Vec<u8>, Pending>,
    /// The sort key of the last entry emitted or passed over: nothing at or before it is added.
    done_up_to: Option<Vec<u8>>,
    /// A directory whose contents the visitor skipped.
    skipping: Option<String>,
}

impl Walker<'_> {
    fn add(&mut self, info: FileInfo, since: u64) {
        let key = order_key(&info.path);
        if self.done_up_to.as_ref().is_some_and(|done| key <= *done) {
            return;
        }
        match self.pending.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(Pending { info, since });
            }
            // A key that is both a file and a prefix of others: the file (as `stat` says).
            Entry::Occupied(mut slot) => {
                if slot.get().info.is_dir && !info.is_dir {
                    slot.insert(Pending { info, since });
                }
            }
        }
    }

    /// Adds the entries one listed key stands for: the directories on its way, and the file.
    fn add_key(&mut self, key: &str, size: u64, mod_time: SystemTime, since: u64) {
        let Some(rel) = key.strip_prefix(&self.prefix) else {
            return;
        };
        let mut dir = self.root.to_owned();
        let mut components = rel.split('/').peekable();
        while let Some(name) = components.next() {
            if !name_is_visible(name) {
                // Upload tails, directory markers (`dir/`) and foreign names: not files, though
                // the directories above them are real.
                return;
            }
            let path = join(&dir, name);
            if components.peek().is_some() {
                self.add(FileInfo::dir(path.clone(), UNIX_EPOCH), since);
                dir = path;
            } else {
                self.add(FileInfo::file(path, size, mod_time), since);
            }
        }
    }

    /// The sort key below which every pending entry is final, given the last key listed.
    fn bound(&self, last_key: &str) -> Vec<u8> {
        let rel = last_key.strip_prefix(&self.prefix).unwrap_or("");
        match rel.bytes().position(|b| b < b'/') {
            Some(cut) => order_key(&format!("{}/{}", self.root_slash(), &rel[..cut])),
            None => {
                let mut key = order_key(&format!("{}/{rel}", self.root_slash()));
                key.push(0);
                key
            }
        }
    }

    /// The walked path without a trailing slash (empty for the root), for joining.
    fn root_slash(&self) -> &str {
        if self.root == ROOT { "" } else { self.root }
    }

    /// Emits, in order, every pending entry whose sort key is below `bound` (all with `None`).
    /// Returns false when the visitor stopped the walk.
    async fn emit(&mut self, bound: Option<&[u8]>, visitor: &mut Visitor<'_>) -> Result<bool> {
        while let Some(first) = self.pending.first_entry() {
            if bound.is_some_and(|b| first.key().as_slice() >= b) {
                break;
            }
            let (key, Pending { info, since }) = first.remove_entry();
            self.done_up_to = Some(key);
            if self
                .skipping
                .as_deref()
                .is_some_and(|dir| info.path == dir || is_ancestor(dir, &info.path))
            {
                continue;
            }
            if position_after(&info.path, self.start_after) != Position::Emit {
                continue;
            }
            if !self.still_there(&info, since).await? {
                continue;
            }
            match visitor(&info)? {
                WalkControl::Stop => return Ok(false),
                WalkControl::SkipDir => self.skipping = Some(info.path.clone()),
                WalkControl::Continue => {}
            }
        }
        Ok(true)
    }

    /// False for an entry deleted (through this process) after it was listed.
    async fn still_there(&self, info: &FileInfo, since: u64) -> Result<bool> {
        let key = self.s.layout.key(&info.path);
        match self.s.deletion_log.since(since, &key) {
            Verdict::Deleted => Ok(false),
            Verdict::NotDeleted => Ok(true),
            // Too many deletions since the listing to tell: ask S3 about files.
            Verdict::Unknown if info.is_dir => Ok(true),
            Verdict::Unknown => Ok(self.s.head(&key, &info.path).await?.is_some()),
        }
    }
}

/// Walks `root` in the contract's order.
pub(crate) async fn walk(
    s: &Bucket,
    root: &str,
    options: &WalkOptions,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let start_after = options.start_after.as_deref();
    let prefix = s.layout.dir_prefix(root);
    // Where the first request starts: keys up to the first component of `start_after` come
    // before it in walk order.
    let mut list_after = None;
    if let Some(marker) = start_after
        && marker != root
    {
        if is_ancestor(root, marker) {
            let rel = marker[root.len()..].trim_start_matches('/');
            let first = rel.split('/').next().unwrap_or(rel);
            list_after = Some(format!("{prefix}{first}"));
        } else if walk_order(marker, root).is_gt() {
            // Everything under `root` comes before the marker: nothing to emit, if `root` exists.
            if root != ROOT && !s.any_under(&prefix, root).await? {
                return Err(Error::not_found(root));
            }
            return Ok(());
        }
    }

    let mut walker = Walker {
        s,
        root,
        prefix: prefix.clone(),
        start_after,
        pending: BTreeMap::new(),
        done_up_to: None,
        skipping: None,
    };
    let resumed = list_after.is_some();
    let mut any = false;
    let mut token: Option<String> = None;
    loop {
        let since = s.deletion_log.mark();
        let page =
            s.s3.list_objects_v2()
                .bucket(s.bucket())
                .prefix(&prefix)
                .max_keys(PAGE as i32)
                .set_start_after(if token.is_none() {
                    list_after.take()
                } else {
                    None
                })
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk(e, "walk", root))?;
        let mut last_key = None;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            any = true;
            let size = object.size().unwrap_or(0).max(0) as u64;
            let mod_time = object
                .last_modified()
                .and_then(|t| SystemTime::try_from(*t).ok())
                .unwrap_or(UNIX_EPOCH);
            walker.add_key(key, size, mod_time, since);
            last_key = Some(key);
        }
        let more = page.is_truncated() == Some(true) && page.next_continuation_token().is_some();
        if !more {
            // Nothing at all under the path (a file has nothing under it either); a listing that
            // started late asks once more from the start.
            if !any && root != ROOT && (!resumed || !s.any_under(&prefix, root).await?) {
                return Err(Error::not_found(root));
            }
            walker.emit(None, visitor).await?;
            return Ok(());
        }
        let Some(last_key) = last_key else {
            token = page.next_continuation_token().map(str::to_owned);
            continue;
        };
        let bound = walker.bound(last_key);
        if !walker.emit(Some(&bound), visitor).await? {
            return Ok(());
        }
        // Inside a skipped directory: start the next request after it rather than page through.
        match &walker.skipping {
            Some(dir) if last_key.starts_with(&s.layout.dir_prefix(dir)) => {
                list_after = Some(format!("{}\u{10FFFF}", s.layout.dir_prefix(dir)));
                token = None;
            }
            _ => token = page.next_continuation_token().map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_follow_walk_order() {
        let mut paths = vec!["/a-b", "/a/x", "/a", "/a.b", "/a0", "/A", "/a/X/z", "/a/X"];
        paths.sort_by_key(|p| order_key(p));
        assert_eq!(
            paths,
            ["/A", "/a", "/a/X", "/a/X/z", "/a/x", "/a-b", "/a.b", "/a0"]
        );
        for pair in paths.windows(2) {
            assert!(walk_order(pair[0], pair[1]).is_lt(), "{pair:?}");
        }
    }
}
