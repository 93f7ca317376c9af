//! Paths (CONTRACT §1): `/`, or `/` followed by components of `[A-Za-z0-9._-]` other than `.`
//! and `..`; and the helpers every driver uses on valid paths (parent, components, walk order).

use std::cmp::Ordering;

/// The root path, accepted only by `stat`, `list` and `walk`.
pub const ROOT: &str = "/";

/// True when `c` is a valid path component: non-empty, of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn is_valid_component(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// True when `path` is a valid non-root path: `^(/[A-Za-z0-9._-]+)+$`, no `.` or `..` component.
pub fn is_valid(path: &str) -> bool {
    match path.strip_prefix('/') {
        Some(rest) if !rest.is_empty() => rest.split('/').all(is_valid_component),
        _ => false,
    }
}

/// True when `path` is valid for `stat`, `list` and `walk`, which also accept the root.
pub fn is_valid_or_root(path: &str) -> bool {
    path == ROOT || is_valid(path)
}

/// The parent of a valid path (`/a/b` → `/a`, `/a` → `/`, `/` → `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => ROOT,
        Some(i) => &path[..i],
    }
}

/// The last component of a valid path (`/a/b` → `b`; `/` → ``).
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

/// Paths every driver must accept or refuse (CONTRACT §1): what the conformance suite tries on
/// drivers and these rules' own tests check.
pub mod examples {
    /// The reference's valid paths.
    pub const REFERENCE_VALID: [&str; 16] = [
        "/a",
        "/2",
        "/aa",
        "/a.a",
        "/0-9/abcdefg",
        "/abcdefg/z.75",
        "/abc/1.2.3.4.5-6_zyx/123.z/4",
        "/docker/docker-registry",
        "/123.abc",
        "/abc./abc",
        "/.abc",
        "/a--b",
        "/a-.b",
        "/_.abc",
        "/Docker/docker-registry",
        "/Abc/Cba",
    ];

    /// Valid under CONTRACT §1 although they look odd: only `.` and `..` themselves are refused.
    pub const DOTTED_VALID: [&str; 3] = ["/...", "/..x/y..", "/-/_/.z"];

    /// Invalid non-root paths: the reference's, the contract's, and the stricter `.`/`..` rule.
    pub const INVALID: [&str; 20] = [
        "",
        "abc",
        "123.abc",
        "//bcd",
        "/abc_123/",
        "/a/../b",
        "/a/./b",
        "/a b",
        "/a*",
        "/ä",
        "/.",
        "/..",
        "/a/.",
        "/a/..",
        "/a//b",
        "a/b",
        "/a\\b",
        "/a\n",
        "/a:b",
        "/%2e",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_examples() {
        for p in examples::REFERENCE_VALID
            .iter()
            .chain(&examples::DOTTED_VALID)
        {
            assert!(is_valid(p), "{p} should be valid");
            assert!(is_valid_or_root(p), "{p} should be valid");
        }
        for p in examples::INVALID {
            assert!(!is_valid(p), "{p:?} should be invalid");
            assert!(!is_valid_or_root(p), "{p:?} should be invalid");
        }
        assert!(!is_valid("/"));
        assert!(is_valid_or_root("/"));
        assert!(!is_valid_or_root("//"));
    }

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
        assert_eq!(walk_order("/b", "/a/z/z"), Ordering::Greater);
        assert_eq!(walk_order("/", "/a"), Ordering::Less);
        let mut v = vec![
            "/folder1-suffix/file1",
            "/folder1/file1",
            "/folder1-suffix",
            "/file1",
            "/folder1",
            "/folder2",
        ];
        v.sort_by(|a, b| walk_order(a, b));
        assert_eq!(
            v,
            [
                "/file1",
                "/folder1",
                "/folder1/file1",
                "/folder1-suffix",
                "/folder1-suffix/file1",
                "/folder2"
            ]
        );
    }
}
