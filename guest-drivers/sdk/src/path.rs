//! Helpers for the contract's paths (CONTRACT §1). The host validates every path before a call
//! reaches the guest, so these only split, join and order paths that are already valid: `/`, or
//! `/` followed by non-empty components of `[A-Za-z0-9._-]`.

use std::cmp::Ordering;

/// The root path, which reaches a guest only in `stat`, `list` and `walk`.
pub const ROOT: &str = "/";

/// The parent of a path (`/a/b` → `/a`, `/a` → `/`, `/` → `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => ROOT,
        Some(i) => &path[..i],
    }
}

/// The last component of a path (`/a/b` → `b`, `/` → ``).
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// `dir` joined with a child name (`/` + `a` → `/a`, `/a` + `b` → `/a/b`).
pub fn join(dir: &str, name: &str) -> String {
    if dir == ROOT {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The components of a path (`/a/b` → `a`, `b`; `/` → nothing).
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// True when `ancestor` is a strict component-prefix of `path`: `/a` of `/a/b`, never of `/ab`
/// or of `/a` itself. The root is an ancestor of every other path.
pub fn is_ancestor(ancestor: &str, path: &str) -> bool {
    if ancestor == ROOT {
        return path != ROOT;
    }
    path.len() > ancestor.len()
        && path.starts_with(ancestor)
        && path.as_bytes()[ancestor.len()] == b'/'
}

/// The contract's walk order: depth-first, a directory before its contents, siblings in byte
/// order of their names. That is component-wise byte order, which differs from plain string
/// order: `/a/c` comes before `/a-b` (the component `a` sorts before `a-b`), while as strings
/// `/a-b` < `/a/c` because `-` < `/`.
pub fn walk_order(a: &str, b: &str) -> Ordering {
    components(a).cmp(components(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join() {
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(base_name("/a/b"), "b");
        assert_eq!(base_name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(components("/a/b").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(components("/").count(), 0);
    }

    #[test]
    fn ancestors_are_component_prefixes() {
        assert!(is_ancestor("/", "/a"));
        assert!(!is_ancestor("/", "/"));
        assert!(is_ancestor("/a", "/a/b"));
        assert!(is_ancestor("/a", "/a/b/c"));
        assert!(!is_ancestor("/a", "/a"));
        assert!(!is_ancestor("/a", "/ab"));
        assert!(!is_ancestor("/a", "/ab/c"));
        assert!(!is_ancestor("/a/b", "/a"));
    }

    #[test]
    fn walk_order_is_component_wise() {
        assert_eq!(walk_order("/a/c", "/a-b"), Ordering::Less);
        assert_eq!(walk_order("/a", "/a/b"), Ordering::Less);
        assert_eq!(walk_order("/a/b", "/a/b"), Ordering::Equal);
        assert_eq!(
            walk_order("/folder1/file1", "/folder1-suffix"),
            Ordering::Less
        );
        assert_eq!(walk_order("/b", "/a/z/z"), Ordering::Greater);
        assert_eq!(walk_order("/", "/a"), Ordering::Less);
    }
}
