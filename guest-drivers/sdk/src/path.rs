//! Helpers for the contract's paths (CONTRACT §1), the same the host uses (`wharf-contract`).
//! The host validates every path before a call reaches the guest, so a guest only splits, joins
//! and orders paths that are already valid: `/`, or `/` followed by non-empty components of
//! `[A-Za-z0-9._-]`.

pub use wharf_contract::path::{
    ROOT, base_name, components, is_ancestor, is_valid, join, parent, walk_order,
};
