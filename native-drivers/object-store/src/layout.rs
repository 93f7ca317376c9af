//! The reference registry's key layout for object stores (CONTRACT §7): the object of `/a/b` is
//! `<root>/a/b` (`a/b` when the root is empty), and object names map back to exactly the same
//! paths; a name no contract path can spell maps to nothing.

use wharf_runtime::path::{ROOT, is_valid};

/// Maps contract paths to object names and back under one root (a `rootdirectory`, or a
/// driver's fixed prefix such as Swift's `<prefix>/files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    /// `root/`, or empty for the bucket's root: the prefix of every name under the root.
    prefix: String,
}

impl KeyLayout {
    /// The layout under `root`; leading and trailing `/` are ignored (`/registry/v2/` is
    /// `registry/v2`).
    pub fn new(root: &str) -> Self {
        let root = root.trim_matches('/');
        let prefix = if root.is_empty() {
            String::new()
        } else {
            format!("{root}/")
        };
        Self { prefix }
    }

    /// The prefix of every name under the root: `root/`, or empty.
    pub fn root_prefix(&self) -> &str {
        &self.prefix
    }

    /// The object name of a (non-root) contract path.
    pub fn key(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path.trim_start_matches('/'))
    }

    /// The name prefix of everything under the directory `path` (`<key>/`, or the root's prefix
    /// for `/`).
    pub fn dir_prefix(&self, path: &str) -> String {
        if path == ROOT {
            self.prefix.clone()
        } else {
            format!("{}/", self.key(path))
        }
    }

    /// The contract path of an object name, if it lies under the root and is a valid path.
    pub fn path_of(&self, name: &str) -> Option<String> {
        let path = format!("/{}", name.strip_prefix(self.prefix.as_str())?);
        is_valid(&path).then_some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_root() {
        let layout = KeyLayout::new("");
        assert_eq!(layout.key("/a/b"), "a/b");
        assert_eq!(layout.dir_prefix("/"), "");
        assert_eq!(layout.dir_prefix("/a"), "a/");
        assert_eq!(layout.path_of("a/b").as_deref(), Some("/a/b"));
        assert_eq!(layout, KeyLayout::new("/"));
    }

    #[test]
    fn rooted() {
        let layout = KeyLayout::new("/registry/v2/");
        assert_eq!(layout.root_prefix(), "registry/v2/");
        assert_eq!(layout.key("/a/b"), "registry/v2/a/b");
        assert_eq!(layout.dir_prefix("/"), "registry/v2/");
        assert_eq!(layout.dir_prefix("/a"), "registry/v2/a/");
        assert_eq!(layout.path_of("registry/v2/a/b").as_deref(), Some("/a/b"));
        assert_eq!(layout.path_of("registry/v2a/b"), None);
        assert_eq!(layout.path_of("other/a"), None);
    }

    #[test]
    fn names_no_path_spells_map_to_nothing() {
        let layout = KeyLayout::new("r");
        for name in ["r/", "r/a/", "r/a//b", "r/~a.upload", "r/a b", "r/.."] {
            assert_eq!(layout.path_of(name), None, "{name:?}");
        }
    }

    #[test]
    fn paths_round_trip() {
        for root in ["", "r", "a/b/c"] {
            let layout = KeyLayout::new(root);
            for path in ["/a", "/a/b", "/a-b/c.d_e"] {
                assert_eq!(layout.path_of(&layout.key(path)).as_deref(), Some(path));
            }
        }
    }
}
