//! The checks, one module per CONTRACT §6 group. Each check is an
//! `async fn(Arc<dyn Fixture>, RunOptions) -> CheckResult` that runs on its own fresh, empty
//! storage and leaves no files behind; the list and its order live in
//! [`conformance_tests!`](crate::conformance_tests), which also builds [`all`].

pub(crate) mod concurrency;
pub(crate) mod content;
pub(crate) mod delete;
pub(crate) mod list;
pub(crate) mod paths;
pub(crate) mod redirect;
pub(crate) mod rename;
pub(crate) mod resume;
pub(crate) mod stat;
pub(crate) mod streams;
pub(crate) mod walk;

use crate::Check;

/// Every check, in CONTRACT §6 order.
pub(crate) fn all() -> Vec<Check> {
    crate::conformance_tests!(@list [checks])
}
