//! Where a walk resumes (CONTRACT §3): every walk — the runtime's over `list` and `stat`, the
//! native drivers' own, the guest SDK's paged one — decides with [`position`] what to do with a
//! path, so all of them resume the same way.

use std::cmp::Ordering;

use crate::path::{is_ancestor, walk_order};

/// A point a walk resumes at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume<'a> {
    /// Strictly after this path in walk order (a `start_after`): if it is a directory, its
    /// contents come next. The path need not exist.
    After(&'a str),
    /// Strictly after this directory and everything under it (a visitor skipped it).
    AfterSubtree(&'a str),
}

/// What a walk resumed at some point does with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// At or before the resume point, with nothing after it underneath: neither emitted nor
    /// descended into.
    Skip,
    /// Not emitted, but entries after the resume point lie underneath: an ancestor of the resume
    /// point (or, for [`Resume::After`], the resume point itself).
    Descend,
    /// After the resume point: emitted, and descended into if it is a directory.
    Emit,
}

/// Classifies `path` against an optional resume point (none: everything is emitted). Among the
/// sorted children of one directory the positions run `Skip…`, at most one `Descend`, then
/// `Emit…`, so the first child to look at can be found by binary search.
pub fn position(path: &str, resume: Option<Resume<'_>>) -> Position {
    match resume {
        None => Position::Emit,
        Some(Resume::After(point)) => match walk_order(path, point) {
            Ordering::Greater => Position::Emit,
            Ordering::Equal => Position::Descend,
            Ordering::Less if is_ancestor(path, point) => Position::Descend,
            Ordering::Less => Position::Skip,
        },
        Some(Resume::AfterSubtree(point)) => match walk_order(path, point) {
            // Only reachable when the walked path itself lies under the skipped directory.
            Ordering::Greater if is_ancestor(point, path) => Position::Skip,
            Ordering::Greater => Position::Emit,
            Ordering::Equal => Position::Skip,
            Ordering::Less if is_ancestor(path, point) => Position::Descend,
            Ordering::Less => Position::Skip,
        },
    }
}

/// [`position`] against a walk's `start_after` marker ([`Resume::After`]).
pub fn position_after(path: &str, start_after: Option<&str>) -> Position {
    position(path, start_after.map(Resume::After))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_marker() {
        assert_eq!(position_after("/a", None), Position::Emit);
        assert_eq!(position_after("/b", Some("/a/x")), Position::Emit);
        assert_eq!(position_after("/a", Some("/a/x")), Position::Descend);
        assert_eq!(position_after("/a/x", Some("/a/x")), Position::Descend);
        assert_eq!(position_after("/a/x/y", Some("/a/x")), Position::Emit);
        assert_eq!(position_after("/a/w", Some("/a/x")), Position::Skip);
        assert_eq!(position_after("/a-b", Some("/a/x")), Position::Emit);
        assert_eq!(position_after("/0", Some("/a/x")), Position::Skip);
    }

    #[test]
    fn after_a_subtree() {
        let skip = Some(Resume::AfterSubtree("/a/x"));
        assert_eq!(position("/a", skip), Position::Descend);
        assert_eq!(position("/a/x", skip), Position::Skip);
        assert_eq!(position("/a/x/y", skip), Position::Skip);
        assert_eq!(position("/a/y", skip), Position::Emit);
        assert_eq!(position("/a/w", skip), Position::Skip);
        assert_eq!(position("/a-b", skip), Position::Emit);
    }

    #[test]
    fn siblings_run_skip_descend_emit() {
        let children = ["/d/a", "/d/b", "/d/c", "/d/c-1", "/d/e"];
        for resume in [
            Resume::After("/d/c"),
            Resume::After("/d/c/z"),
            Resume::After("/d/bb"),
            Resume::AfterSubtree("/d/c"),
        ] {
            let ranks: Vec<u8> = children
                .iter()
                .map(|c| match position(c, Some(resume)) {
                    Position::Skip => 0,
                    Position::Descend => 1,
                    Position::Emit => 2,
                })
                .collect();
            assert!(ranks.is_sorted(), "{resume:?}: {ranks:?}");
            assert!(ranks.iter().filter(|&&r| r == 1).count() <= 1, "{resume:?}");
        }
    }
}
