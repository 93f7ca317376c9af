//! Where contract paths live in the bucket (CONTRACT §7): the object key of `/a/b` is
//! `<rootdirectory>/a/b` (just `a/b` when the root is empty), exactly as the reference driver lays
//! it out, and keys map back to exactly the same paths.
//!
//! The driver's one object of its own, the saved tail of an upload in progress (see `writer`),
//! sits beside the target as `~<name>.upload`: `~` cannot appear in a contract path, so the key
//! is never taken for a file, and [`name_is_visible`] hides it (and any other key no contract path
//! can spell, such as directory markers `dir/`) from listings and walks.

/// Maps contract paths to keys and back for one `rootdirectory`: the object stores' one layout.
pub(crate) use wharf_object_store::KeyLayout as Layout;
/// True when a listed name (one component) can be a contract path component.
pub(crate) use wharf_object_store::name_is_visible;

/// The key of the saved tail of an upload to `path`.
pub(crate) fn tail_key(layout: &Layout, path: &str) -> String {
    tail_of_key(&layout.key(path))
}

/// The key of the saved tail of an upload to the object key `key`.
pub(crate) fn tail_of_key(key: &str) -> String {
    match key.rfind('/') {
        Some(i) => format!("{}~{}.upload", &key[..=i], &key[i + 1..]),
        None => format!("~{key}.upload"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_sit_beside_their_target_under_a_hidden_name() {
        assert_eq!(tail_key(&Layout::new(""), "/a"), "~a.upload");
        assert_eq!(tail_key(&Layout::new("r"), "/a/b"), "r/a/~b.upload");
        assert!(!name_is_visible("~b.upload"));
    }
}
