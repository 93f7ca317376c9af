//! Path rules of CONTRACT §1 (written once, in `wharf-contract`, for host and guests):
//! validation (done once, by the base layer, before any driver sees a call, failing with
//! `InvalidPath`) and the small helpers drivers share (parent, components, walk order).

pub use wharf_contract::path::{
    ROOT, base_name, components, is_ancestor, is_valid, join, parent, walk_order,
};

use crate::error::{Error, Result};

/// Checks a path for an operation that does not accept the root.
pub fn validate(path: &str) -> Result<()> {
    if is_valid(path) {
        Ok(())
    } else {
        Err(Error::invalid_path(path))
    }
}

/// Checks a path for `stat`, `list` and `walk`, which also accept the root.
pub fn validate_allow_root(path: &str) -> Result<()> {
    if wharf_contract::path::is_valid_or_root(path) {
        Ok(())
    } else {
        Err(Error::invalid_path(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_only_where_allowed() {
        assert!(validate("/").is_err());
        assert!(validate("/a/../b").is_err());
        assert!(validate("/a").is_ok());
        assert!(validate_allow_root("/").is_ok());
        assert!(validate_allow_root("//").is_err());
    }
}
