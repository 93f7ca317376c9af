//! Wharf's public conformance suite: CONTRACT.md turned into checks that any driver, native or
//! guest, runs the same way.
//!
//! Each check is a plain async function over a [`Fixture`] (a fresh, empty storage and a way to
//! open a second instance of the same configuration). [`checks()`] lists them all for tools such
//! as `wharf check`; the [`conformance_tests!`] macro expands to one `#[tokio::test]` per check
//! for a driver crate's own tests. Long checks (5 GiB streams, 32 × 32 MiB writers, 128 MiB
//! readers) run when `WHARF_LONG=1` or [`RunOptions::long`] is set; their short variants always
//! run.

#![forbid(unsafe_code)]

mod checks;
pub mod data;
mod fixture;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use fixture::{FactoryFixture, Fixture};
pub use support::{CheckError, CheckResult};

/// How a run is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Run the long variants (also switched on by `WHARF_LONG=1`).
    pub long: bool,
}

impl RunOptions {
    /// Options from the environment (`WHARF_LONG=1` turns on long mode).
    pub fn from_env() -> Self {
        Self {
            long: std::env::var("WHARF_LONG").is_ok_and(|v| v == "1" || v == "true"),
        }
    }
}

/// The future a check returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;

/// One conformance check.
#[derive(Clone, Copy)]
pub struct Check {
    /// The CONTRACT §6 group (`paths`, `content`, `streams`, …).
    pub group: &'static str,
    /// A unique snake_case name, also the name of the generated `#[tokio::test]`.
    pub name: &'static str,
    /// Runs the check on a fresh fixture.
    pub run: fn(Arc<dyn Fixture>, RunOptions) -> CheckFuture,
}

/// Every check, in CONTRACT §6 order.
pub fn checks() -> Vec<Check> {
    checks::all()
}

/// Runs one check on `fixture`, then verifies the check left the storage empty (no files
/// anywhere under `/`).
pub async fn run_check(check: &Check, fixture: Arc<dyn Fixture>, options: RunOptions) -> CheckResult {
    (check.run)(fixture.clone(), options).await?;
    support::assert_no_files(fixture.driver().as_ref()).await
}

/// Runs the check named `name` on the fixture `make` creates, panicking with the failure (for
/// generated tests).
pub async fn run_named<F, Fut>(name: &str, make: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Arc<dyn Fixture>>,
{
    let check = checks()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no conformance check named {name}"));
    let fixture = make().await;
    if let Err(e) = run_check(&check, fixture, RunOptions::from_env()).await {
        panic!("{}/{}: {e}", check.group, check.name);
    }
}
