//! The paged walk of the WIT `walk` method, built from `list` and `stat`: the default for every
//! driver that has no native walk.
//!
//! Entries come in the contract's walk order (depth-first, a directory before its contents,
//! siblings in byte order of their names); a page resumes strictly after a path (`after`), or
//! after a directory and everything under it (`after-subtree`). Only the directories on the way
//! to the resume point (and, for `after`, the point itself, which may be a directory) are listed
//! again, and in each listing the children before the resume point are found by binary search
//! and never stat'ed, so a page costs what it returns plus one listing per ancestor of the
//! resume point.

use wharf_contract::walk::{Position, position};

use crate::FileInfo;
use crate::error::{Error, Result};

/// Where a walk page resumes (the WIT `resume-point`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Strictly after this path in walk order: if it is a directory, its contents come next.
    /// The path need not exist; its ancestors are not emitted again.
    After(String),
    /// Strictly after this directory and everything under it (the visitor skipped it).
    AfterSubtree(String),
}

/// One page of a walk (the WIT `walk-page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkPage {
    /// Entries in walk order.
    pub entries: Vec<FileInfo>,
    /// True when the walk is complete. A page may say `false` and the next page turn out empty
    /// (with `true`): the walk cannot always tell that nothing follows without reading more.
    pub done: bool,
}

impl Resume {
    /// The resume point as the contract's rules take it.
    pub fn point(&self) -> wharf_contract::walk::Resume<'_> {
        match self {
            Resume::After(path) => wharf_contract::walk::Resume::After(path),
            Resume::AfterSubtree(path) => wharf_contract::walk::Resume::AfterSubtree(path),
        }
    }
}

/// A directory being walked: its children in byte order and the next one to look at.
struct Frame {
    children: Vec<String>,
    next: usize,
}

impl Frame {
    fn new(mut children: Vec<String>, resume: Option<wharf_contract::walk::Resume<'_>>) -> Self {
        // Drivers return byte order already; sorting again is cheap on sorted input and keeps
        // the order right for a driver whose `list` is not.
        children.sort_unstable();
        // Siblings run Skip…, then at most one Descend, then Emit…: start at the first non-Skip.
        let next = match resume {
            None => 0,
            Some(_) => children.partition_point(|c| position(c, resume) == Position::Skip),
        };
        Self { children, next }
    }

    fn exhausted(&self) -> bool {
        self.next >= self.children.len()
    }
}

/// Lists `dir` for the walk; a directory that vanished (or turned out to be a file) is empty.
fn list_or_skip(
    list: &mut impl FnMut(&str) -> Result<Vec<String>>,
    dir: &str,
) -> Result<Option<Vec<String>>> {
    match list(dir) {
        Ok(children) => Ok(Some(children)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// One page of the walk of `path` (excluded itself), at most `limit` entries (a `limit` of 0 is
/// taken as 1), resuming at `resume`, using `list` (direct children as absolute paths) and
/// `stat`. A missing `path` is `PathNotFound`; entries that vanish while the walk runs are
/// skipped.
pub fn page(
    path: &str,
    resume: Option<&Resume>,
    limit: u32,
    mut list: impl FnMut(&str) -> Result<Vec<String>>,
    mut stat: impl FnMut(&str) -> Result<FileInfo>,
) -> Result<WalkPage> {
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let top = list(path).map_err(|e| match e {
        Error::PathNotFound(_) => Error::not_found(path),
        other => other,
    })?;
    let resume = resume.map(Resume::point);
    let mut stack = vec![Frame::new(top, resume)];
    let mut entries = Vec::new();
    while let Some(frame) = stack.last_mut() {
        let Some(child) = frame.children.get(frame.next).cloned() else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        match position(&child, resume) {
            Position::Skip => {}
            Position::Descend => {
                if let Some(children) = list_or_skip(&mut list, &child)? {
                    stack.push(Frame::new(children, resume));
                }
            }
            Position::Emit => {
                let mut info = match stat(&child) {
                    Ok(info) => info,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
                info.path.clone_from(&child);
                let is_dir = info.is_dir;
                entries.push(info);
                if entries.len() == limit {
                    // Done only if nothing can follow: no siblings left anywhere up the stack,
                    // and no contents under the last entry (which would need a listing to know).
                    let done = !is_dir && stack.iter().all(Frame::exhausted);
                    return Ok(WalkPage { entries, done });
                }
                if is_dir && let Some(children) = list_or_skip(&mut list, &child)? {
                    stack.push(Frame::new(children, resume));
                }
            }
        }
    }
    Ok(WalkPage {
        entries,
        done: true,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::cmp::Ordering;
    use std::collections::BTreeSet;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::path::{ROOT, components, is_ancestor, join, parent, walk_order};

    /// A tree of files (directories are implied by their files), with counters of the calls a
    /// walk makes.
    struct Tree {
        files: BTreeSet<String>,
        listed: RefCell<Vec<String>>,
        stats: RefCell<usize>,
    }

    impl Tree {
        fn new(files: &[&str]) -> Self {
            Self {
                files: files.iter().map(|f| f.to_string()).collect(),
                listed: RefCell::default(),
                stats: RefCell::default(),
            }
        }

        fn is_dir(&self, path: &str) -> bool {
            self.files.iter().any(|f| is_ancestor(path, f))
        }

        fn list(&self, dir: &str) -> Result<Vec<String>> {
            self.listed.borrow_mut().push(dir.to_owned());
            if dir != ROOT && !self.is_dir(dir) {
                return Err(Error::not_found(dir));
            }
            let depth = components(dir).count();
            let children: BTreeSet<String> = self
                .files
                .iter()
                .filter(|f| is_ancestor(dir, f))
                .map(|f| {
                    let name = components(f).nth(depth).unwrap_or_default();
                    join(dir, name)
                })
                .collect();
            // Deliberately not sorted by the walk order: the walk must sort.
            let mut children: Vec<String> = children.into_iter().collect();
            children.reverse();
            Ok(children)
        }

        fn stat(&self, path: &str) -> Result<FileInfo> {
            *self.stats.borrow_mut() += 1;
            if self.files.contains(path) {
                Ok(FileInfo::file(path, 1, UNIX_EPOCH))
            } else if self.is_dir(path) {
                Ok(FileInfo::dir(path, UNIX_EPOCH))
            } else {
                Err(Error::not_found(path))
            }
        }

        fn page(&self, path: &str, resume: Option<&Resume>, limit: u32) -> Result<WalkPage> {
            page(path, resume, limit, |p| self.list(p), |p| self.stat(p))
        }

        /// Every entry under `root` in walk order, computed without the walk: all files and
        /// their ancestor directories, sorted component-wise.
        fn expected(&self, root: &str) -> Vec<String> {
            let mut all = BTreeSet::new();
            for f in self.files.iter().filter(|f| is_ancestor(root, f)) {
                let mut p = f.as_str();
                while p != root {
                    all.insert(p.to_owned());
                    p = parent(p);
                }
            }
            let mut all: Vec<String> = all.into_iter().collect();
            all.sort_by(|a, b| walk_order(a, b));
            all
        }

        /// The whole walk, page by page, resuming after each page's last entry.
        fn walk_all(&self, root: &str, start: Option<Resume>, limit: u32) -> Vec<String> {
            let mut seen = Vec::new();
            let mut resume = start;
            for _ in 0..10_000 {
                let page = self.page(root, resume.as_ref(), limit).unwrap();
                assert!(page.entries.len() <= limit.max(1) as usize);
                assert!(page.done || !page.entries.is_empty(), "empty page not done");
                if let Some(last) = page.entries.last() {
                    resume = Some(Resume::After(last.path.clone()));
                }
                seen.extend(page.entries.into_iter().map(|e| e.path));
                if page.done {
                    return seen;
                }
            }
            panic!("walk did not finish");
        }
    }

    const TREE: &[&str] = &[
        "/file1",
        "/folder1/file1",
        "/folder1-suffix/file1",
        "/folder2/file1",
        "/folder2/sub/deep/x",
        "/folder2/sub/y",
        "/folder2/sub-a",
        "/a/a/a",
        "/a/a-b",
        "/a-b/c",
    ];

    fn paths(page: &WalkPage) -> Vec<&str> {
        page.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn order_is_depth_first_and_component_wise() {
        let t = Tree::new(TREE);
        let page = t.page("/", None, 1000).unwrap();
        assert!(page.done);
        assert_eq!(
            paths(&page),
            [
                "/a",
                "/a/a",
                "/a/a/a",
                "/a/a-b",
                "/a-b",
                "/a-b/c",
                "/file1",
                "/folder1",
                "/folder1/file1",
                "/folder1-suffix",
                "/folder1-suffix/file1",
                "/folder2",
                "/folder2/file1",
                "/folder2/sub",
                "/folder2/sub/deep",
                "/folder2/sub/deep/x",
                "/folder2/sub/y",
                "/folder2/sub-a",
            ]
        );
        assert_eq!(paths(&page), t.expected("/"));
        assert!(page.entries[0].is_dir && !page.entries[2].is_dir);
    }

    #[test]
    fn every_page_size_gives_the_whole_walk() {
        let t = Tree::new(TREE);
        for root in ["/", "/folder2", "/a", "/folder2/sub"] {
            for limit in [0, 1, 2, 3, 5, 7, 100] {
                assert_eq!(
                    t.walk_all(root, None, limit),
                    t.expected(root),
                    "{root} {limit}"
                );
            }
        }
    }

    #[test]
    fn after_resumes_strictly_after_the_path() {
        let t = Tree::new(TREE);
        let all = t.expected("/");
        // Every entry, and paths that do not exist, as resume points.
        let mut points: Vec<String> = all.clone();
        points.extend(
            [
                "/",
                "/0",
                "/a/a/0",
                "/a/a/z",
                "/folder1-",
                "/folder2/sub/c",
                "/zzz",
                "/a/b/c",
            ]
            .map(String::from),
        );
        for p in &points {
            let expected: Vec<&String> = all
                .iter()
                .filter(|x| walk_order(x, p) == Ordering::Greater)
                .collect();
            for limit in [1, 3, 1000] {
                let got = t.walk_all("/", Some(Resume::After(p.clone())), limit);
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    expected,
                    "after {p}, {limit}"
                );
            }
        }
    }

    #[test]
    fn after_a_directory_continues_with_its_contents() {
        let t = Tree::new(TREE);
        let page = t
            .page("/", Some(&Resume::After("/folder2".into())), 3)
            .unwrap();
        assert_eq!(
            paths(&page),
            ["/folder2/file1", "/folder2/sub", "/folder2/sub/deep"]
        );
        assert!(!page.done);
    }

    #[test]
    fn after_subtree_skips_the_directory_contents() {
        let t = Tree::new(TREE);
        let all = t.expected("/");
        for d in all
            .iter()
            .chain(&["/0".to_owned(), "/folder2/s".to_owned()])
        {
            let expected: Vec<&String> = all
                .iter()
                .filter(|x| walk_order(x, d) == Ordering::Greater && !is_ancestor(d, x))
                .collect();
            let got = t.walk_all("/", Some(Resume::AfterSubtree(d.clone())), 2);
            assert_eq!(
                got.iter().collect::<Vec<_>>(),
                expected,
                "after-subtree {d}"
            );
        }
        let page = t
            .page("/", Some(&Resume::AfterSubtree("/folder2/sub".into())), 10)
            .unwrap();
        assert_eq!(paths(&page), ["/folder2/sub-a"]);
        assert!(page.done);
        // A walk of a directory inside the skipped one has nothing left.
        let page = t
            .page(
                "/folder2/sub",
                Some(&Resume::AfterSubtree("/folder2".into())),
                10,
            )
            .unwrap();
        assert!(page.entries.is_empty() && page.done);
    }

    #[test]
    fn resume_points_outside_the_walked_directory() {
        let t = Tree::new(TREE);
        let before = t
            .page("/folder2", Some(&Resume::After("/a".into())), 100)
            .unwrap();
        assert_eq!(paths(&before), t.expected("/folder2"));
        let after = t
            .page("/folder2", Some(&Resume::After("/zzz".into())), 100)
            .unwrap();
        assert!(after.entries.is_empty() && after.done);
        let itself = t
            .page("/folder2", Some(&Resume::After("/folder2".into())), 100)
            .unwrap();
        assert_eq!(paths(&itself), t.expected("/folder2"));
    }

    #[test]
    fn missing_root_and_empty_storage() {
        let t = Tree::new(TREE);
        assert_eq!(
            t.page("/nope", None, 10).unwrap_err(),
            Error::not_found("/nope")
        );
        // A file is not a directory to walk.
        assert_eq!(
            t.page("/file1", None, 10).unwrap_err(),
            Error::not_found("/file1")
        );
        let empty = Tree::new(&[]);
        let page = empty.page("/", None, 10).unwrap();
        assert!(page.entries.is_empty() && page.done);
        let page = empty
            .page("/", Some(&Resume::After("/x".into())), 10)
            .unwrap();
        assert!(page.entries.is_empty() && page.done);
    }

    #[test]
    fn done_is_exact_when_the_last_entry_is_the_last_file() {
        let t = Tree::new(&["/a/b", "/c"]);
        let page = t.page("/", None, 3).unwrap();
        assert_eq!(paths(&page), ["/a", "/a/b", "/c"]);
        assert!(page.done);
        // The last entry is a directory: its contents are unknown without a listing.
        let t = Tree::new(&["/a/b"]);
        let page = t.page("/", None, 1).unwrap();
        assert_eq!(paths(&page), ["/a"]);
        assert!(!page.done);
    }

    #[test]
    fn resuming_lists_only_the_ancestors_of_the_resume_point() {
        let mut files: Vec<String> = Vec::new();
        for d in 0..20 {
            for f in 0..20 {
                files.push(format!("/d{d:02}/f{f:02}"));
            }
        }
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let t = Tree::new(&refs);
        let page = t
            .page("/", Some(&Resume::After("/d10/f05".into())), 3)
            .unwrap();
        assert_eq!(paths(&page), ["/d10/f06", "/d10/f07", "/d10/f08"]);
        // The resume point itself is listed too: it might be a directory, whose contents come
        // next (a file answers PathNotFound).
        assert_eq!(*t.listed.borrow(), ["/", "/d10", "/d10/f05"]);
        assert_eq!(*t.stats.borrow(), 3, "skipped entries must not be stat'ed");

        t.listed.borrow_mut().clear();
        let page = t
            .page("/", Some(&Resume::AfterSubtree("/d10".into())), 2)
            .unwrap();
        assert_eq!(paths(&page), ["/d11", "/d11/f00"]);
        assert_eq!(*t.listed.borrow(), ["/", "/d11"]);
    }

    #[test]
    fn vanished_entries_are_skipped() {
        let t = Tree::new(TREE);
        let page = page(
            "/",
            None,
            100,
            |p| t.list(p),
            |p| {
                if p == "/file1" || p == "/folder1" {
                    Err(Error::not_found(p))
                } else {
                    t.stat(p)
                }
            },
        )
        .unwrap();
        let got = paths(&page);
        assert!(!got.contains(&"/file1") && !got.contains(&"/folder1"));
        assert!(
            !got.contains(&"/folder1/file1"),
            "a vanished dir is not walked"
        );
        assert!(got.contains(&"/folder1-suffix/file1"));
    }

    #[test]
    fn other_errors_abort_the_page() {
        let t = Tree::new(TREE);
        let e = page(
            "/",
            None,
            100,
            |p| t.list(p),
            |p| {
                if p == "/folder2" {
                    Err(Error::backend("flaky", true))
                } else {
                    t.stat(p)
                }
            },
        )
        .unwrap_err();
        assert_eq!(e, Error::backend("flaky", true));
    }

    /// Random trees and random resume points against the model, with a tiny deterministic PRNG.
    #[test]
    fn random_trees_match_the_model() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let names = ["a", "a-b", "a.b", "b", "_", "0", "ab", "a_"];
        for _ in 0..60 {
            let mut files = BTreeSet::new();
            for _ in 0..next(25) + 1 {
                let depth = next(4) + 1;
                let mut p = String::new();
                for _ in 0..depth {
                    p.push('/');
                    p.push_str(names[next(names.len() as u64) as usize]);
                }
                files.insert(p);
            }
            // Keep it a valid tree: no file may also be a directory.
            let files: Vec<String> = files
                .iter()
                .filter(|f| !files.iter().any(|g| is_ancestor(f, g)))
                .cloned()
                .collect();
            let refs: Vec<&str> = files.iter().map(String::as_str).collect();
            let t = Tree::new(&refs);
            let all = t.expected("/");
            for limit in [1, 2, 4] {
                assert_eq!(t.walk_all("/", None, limit), all);
            }
            for _ in 0..10 {
                let p = all[next(all.len() as u64) as usize].clone();
                let after: Vec<&String> = all
                    .iter()
                    .filter(|x| walk_order(x, &p) == Ordering::Greater)
                    .collect();
                let got = t.walk_all("/", Some(Resume::After(p.clone())), 3);
                assert_eq!(got.iter().collect::<Vec<_>>(), after, "after {p}");
                let skipped: Vec<&String> = after
                    .iter()
                    .copied()
                    .filter(|x| !is_ancestor(&p, x))
                    .collect();
                let got = t.walk_all("/", Some(Resume::AfterSubtree(p.clone())), 3);
                assert_eq!(got.iter().collect::<Vec<_>>(), skipped, "after-subtree {p}");
            }
        }
    }
}
