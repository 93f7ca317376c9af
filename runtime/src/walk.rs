//! The contract's walk (CONTRACT §3) built from `list` and `stat`, for drivers without a native
//! one: depth-first, a directory before its contents, siblings in byte order, with `start_after`,
//! skip-directory and stop. Entries that vanish during the walk are skipped.

use std::cmp::Ordering;

use crate::driver::{StorageDriver, Visitor, WalkControl, WalkOptions};
use crate::error::Result;
use crate::path::{is_ancestor, walk_order};

/// Where a path stands relative to the `start_after` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// After the marker in walk order: emit it (and descend if it is a directory).
    After,
    /// The marker itself or an ancestor of it: do not emit, but descend (what lies under the
    /// marker comes after it in walk order).
    Ancestor,
    /// At or before the marker and not an ancestor: neither it nor anything under it is emitted.
    Before,
}

/// Classifies `path` against an optional `start_after` marker. Drivers with a native walk use
/// this too, so every driver resumes the same way.
pub fn position(path: &str, start_after: Option<&str>) -> Position {
    match start_after {
        None => Position::After,
        Some(marker) if walk_order(path, marker) == Ordering::Greater => Position::After,
        Some(marker) if path == marker || is_ancestor(path, marker) => Position::Ancestor,
        Some(_) => Position::Before,
    }
}

/// Walks `root` with `driver.list` and `driver.stat` (one `stat` per entry that can still be
/// emitted; subtrees wholly before `start_after` are never listed).
pub async fn walk_with_list_and_stat<D: StorageDriver + ?Sized>(
    driver: &D,
    root: &str,
    options: &WalkOptions,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let start_after = options.start_after.as_deref();
    // A stack of directory listings, each with the index of the next child to visit.
    let mut stack: Vec<(Vec<String>, usize)> = vec![(sorted(driver.list(root).await?), 0)];
    while let Some((children, next)) = stack.last_mut() {
        let Some(child) = children.get(*next).cloned() else {
            stack.pop();
            continue;
        };
        *next += 1;
        let position = position(&child, start_after);
        if position == Position::Before {
            continue;
        }
        let info = match driver.stat(&child).await {
            Ok(info) => info,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let descend = match position {
            Position::After => match visitor(&info)? {
                WalkControl::Stop => return Ok(()),
                WalkControl::SkipDir => false,
                WalkControl::Continue => info.is_dir,
            },
            _ => info.is_dir,
        };
        if descend {
            match driver.list(&child).await {
                Ok(grandchildren) => stack.push((sorted(grandchildren), 0)),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn sorted(mut children: Vec<String>) -> Vec<String> {
    // Drivers already return byte order; sorting again costs nothing on sorted input and keeps
    // the walk's order right even for a driver that got `list` wrong.
    children.sort_unstable();
    children
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(position("/a", None), Position::After);
        assert_eq!(position("/b", Some("/a/x")), Position::After);
        assert_eq!(position("/a", Some("/a/x")), Position::Ancestor);
        assert_eq!(position("/a/x", Some("/a/x")), Position::Ancestor);
        assert_eq!(position("/a/x/y", Some("/a/x")), Position::After);
        assert_eq!(position("/a/w", Some("/a/x")), Position::Before);
        assert_eq!(position("/a-b", Some("/a/x")), Position::After);
        assert_eq!(position("/0", Some("/a/x")), Position::Before);
    }
}
