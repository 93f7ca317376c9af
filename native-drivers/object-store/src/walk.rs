//! The object stores' walk on flat listings: the names under a prefix without a delimiter, one
//! request per page (a thousand names or more), directories derived from the names' prefixes.
//! A driver supplies its listing call and two look-ups ([`FlatListing`]); the order, the
//! buffering, `start_after`, skipped directories and deletions are here, once.
//!
//! Object stores list names in byte order of the whole name, which is not the contract's walk
//! order: `/` sorts after `-` and `.`, so `a-b` and `a.b` are listed before `a/x`, while the walk
//! wants the directory `a` and its contents first. The walk therefore keeps entries in a buffer
//! ordered the contract's way (a path's bytes with `/` read as the smallest byte) and emits an
//! entry only once no name still to come can sort before it: after the last name listed, `L`,
//! every name yet to come is greater than `L`, and the only ones that sort before `L` in walk
//! order share `L`'s bytes up to a `-`, `.` (or other byte below `/`) and have a `/` there
//! instead. So entries before `L` cut at its first byte below `/` are final (all of them, at the
//! end of the listing). Registry trees seldom have such sibling names, so the buffer stays small.
//!
//! `start_after` starts the listing after its first component (names before that precede it in
//! walk order too) and filters the rest with [`wharf_runtime::walk::position_after`], like every
//! other driver. A skipped directory's entries are dropped, and when the listing is inside it,
//! the next request starts after it (on stores whose listing can start after a name). An entry
//! deleted through this process after its page was listed is skipped (the store's
//! [`DeletionLog`]); deletions by other processes are not seen, a page being a snapshot.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use wharf_runtime::deletion_log::{DeletionLog, Verdict};
use wharf_runtime::path::{ROOT, is_ancestor, is_valid, join, walk_order};
use wharf_runtime::walk::{Position, position_after};
use wharf_runtime::{Error, FileInfo, Result, Visitor, WalkControl, WalkOptions};

use crate::KeyLayout;

/// How many deletions a store's log keeps for its walks (see [`DeletionLog`]): beyond them, an
/// entry listed before costs a look-up.
pub const DELETIONS_KEPT: usize = 8192;

/// One object of a flat listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object's whole name.
    pub name: String,
    /// The size of the content the object holds (a large object's whole size).
    pub size: u64,
    /// The time of the object's last change.
    pub mod_time: SystemTime,
}

/// Where a listing request starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    /// At the prefix's first name.
    Start,
    /// At the first name after this one (asked only of stores whose
    /// [`FlatListing::STARTS_AFTER`] is true).
    After(String),
    /// Where the previous page said the next one starts.
    Next(String),
}

/// One page of a flat listing, in byte order of the names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The page's objects; a driver may leave out objects of its own (upload state), as long as
    /// the others stay in order.
    pub objects: Vec<Listed>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<String>,
}

/// What a store gives the walk.
#[async_trait]
pub trait FlatListing: Sync {
    /// Whether the listing can start after a given name ([`From::After`]); without it, a walk
    /// resumed after a point or skipping a directory pages through what it passes over.
    const STARTS_AFTER: bool;

    /// Where the store's contract paths live.
    fn layout(&self) -> &KeyLayout;

    /// The log of deletions and moves made through this process on this store.
    fn deletion_log(&self) -> &DeletionLog;

    /// One page of the names starting with `prefix`, with no delimiter.
    async fn list_page(&self, prefix: &str, from: From, path: &str) -> Result<Page>;

    /// Whether the object `name` (the file `path`) still exists: asked for an entry listed
    /// before more deletions than the log keeps.
    async fn file_exists(&self, name: &str, path: &str) -> Result<bool>;

    /// Whether any object lies under the directory `path` (its names start with
    /// [`KeyLayout::dir_prefix`]).
    async fn any_under(&self, path: &str) -> Result<bool>;
}

/// True when a listed name (one component) can be a contract path component. Other names —
/// upload state, directory markers (`dir/`), other tools' files — are not files, though the
/// directories above them are real.
pub fn name_is_visible(name: &str) -> bool {
    is_valid(&format!("/{name}"))
}

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
struct Walker<'a, L> {
    store: &'a L,
    root: &'a str,
    prefix: String,
    start_after: Option<&'a str>,
    pending: BTreeMap<Vec<u8>, Pending>,
    /// The sort key of the last entry emitted or passed over: nothing at or before it is added.
    done_up_to: Option<Vec<u8>>,
    /// A directory whose contents the visitor skipped.
    skipping: Option<String>,
}

impl<L: FlatListing> Walker<'_, L> {
    fn add(&mut self, info: FileInfo, since: u64) {
        let key = order_key(&info.path);
        if self.done_up_to.as_ref().is_some_and(|done| key <= *done) {
            return;
        }
        match self.pending.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(Pending { info, since });
            }
            // A name that is both a file and a prefix of others: the file (as `stat` says).
            Entry::Occupied(mut slot) => {
                if slot.get().info.is_dir && !info.is_dir {
                    slot.insert(Pending { info, since });
                }
            }
        }
    }

    /// Adds the entries one listed object stands for: the directories on its way, and the file.
    fn add_object(&mut self, object: &Listed, since: u64) {
        let Some(rel) = object.name.strip_prefix(&self.prefix) else {
            return;
        };
        let mut dir = self.root.to_owned();
        let mut components = rel.split('/').peekable();
        while let Some(name) = components.next() {
            if !name_is_visible(name) {
                return;
            }
            let path = join(&dir, name);
            if components.peek().is_some() {
                self.add(FileInfo::dir(path.clone(), UNIX_EPOCH), since);
                dir = path;
            } else {
                self.add(FileInfo::file(path, object.size, object.mod_time), since);
            }
        }
    }

    /// The sort key below which every pending entry is final, given the last name listed.
    fn bound(&self, last_name: &str) -> Vec<u8> {
        let rel = last_name.strip_prefix(&self.prefix).unwrap_or("");
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
        let name = self.store.layout().key(&info.path);
        match self.store.deletion_log().since(since, &name) {
            Verdict::Deleted => Ok(false),
            Verdict::NotDeleted => Ok(true),
            // Too many deletions since the listing to tell: ask the store about files.
            Verdict::Unknown if info.is_dir => Ok(true),
            Verdict::Unknown => self.store.file_exists(&name, &info.path).await,
        }
    }
}

/// Walks `root` in the contract's order on `store`'s flat listings.
pub async fn walk<L: FlatListing>(
    store: &L,
    root: &str,
    options: &WalkOptions,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let start_after = options.start_after.as_deref();
    let prefix = store.layout().dir_prefix(root);
    // Where the first request starts: names up to the first component of `start_after` come
    // before it in walk order.
    let mut from = From::Start;
    if let Some(marker) = start_after
        && marker != root
    {
        if is_ancestor(root, marker) {
            if L::STARTS_AFTER {
                let rel = marker[root.len()..].trim_start_matches('/');
                let first = rel.split('/').next().unwrap_or(rel);
                from = From::After(format!("{prefix}{first}"));
            }
        } else if walk_order(marker, root).is_gt() {
            // Everything under `root` comes before the marker: nothing to emit, if `root` exists.
            if root != ROOT && !store.any_under(root).await? {
                return Err(Error::not_found(root));
            }
            return Ok(());
        }
    }

    let mut walker = Walker {
        store,
        root,
        prefix: prefix.clone(),
        start_after,
        pending: BTreeMap::new(),
        done_up_to: None,
        skipping: None,
    };
    let resumed = from != From::Start;
    let mut any = false;
    loop {
        let since = store.deletion_log().mark();
        let page = store.list_page(&prefix, from, root).await?;
        any |= !page.objects.is_empty();
        for object in &page.objects {
            walker.add_object(object, since);
        }
        let Some(next) = page.next else {
            // Nothing at all under the path (a file has nothing under it either); a listing that
            // started late asks once more from the start.
            if !any && root != ROOT && (!resumed || !store.any_under(root).await?) {
                return Err(Error::not_found(root));
            }
            walker.emit(None, visitor).await?;
            return Ok(());
        };
        from = From::Next(next);
        let Some(last) = page.objects.last() else {
            continue;
        };
        let bound = walker.bound(&last.name);
        if !walker.emit(Some(&bound), visitor).await? {
            return Ok(());
        }
        // Inside a skipped directory: start the next request after it rather than page through.
        if L::STARTS_AFTER
            && let Some(dir) = &walker.skipping
        {
            let dir_prefix = store.layout().dir_prefix(dir);
            if last.name.starts_with(&dir_prefix) {
                from = From::After(format!("{dir_prefix}\u{10FFFF}"));
            }
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

    #[test]
    fn only_contract_names_are_visible() {
        assert!(name_is_visible("a-b.c_d"));
        assert!(!name_is_visible(""));
        assert!(!name_is_visible(".."));
        assert!(!name_is_visible("odd name"));
        assert!(!name_is_visible("~b.upload"));
    }
}
