//! Wharf's public conformance suite: CONTRACT.md turned into checks that any driver, native or
//! guest, runs the same way.
//!
//! Each check is a plain async function over a [`Fixture`] (a fresh, empty storage and a way to
//! open a second instance of the same configuration). [`checks()`] lists them all for tools such
//! as `wharf check`; the [`conformance_tests!`] macro expands to one `#[tokio::test]` per check
//! for a driver crate's own tests. Long checks (5 GiB streams, 32 × 32 MiB writers, 128 MiB
//! readers) run when `WHARF_LONG=1` or [`RunOptions::long`] is set; their short variants always
//! run. Beside the checks, [`random`] runs seeded random operations against a model of the
//! contract and shrinks a disagreement to a short sequence; [`pages`] checks a walk built on
//! listing pages across many of them.

#![forbid(unsafe_code)]

mod checks;
pub mod data;
mod fixture;
pub mod pages;
pub mod random;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use fixture::{FactoryFixture, Fixture};
pub use support::{CheckError, CheckResult, block_on_within};

/// How a run is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Run the long variants (also switched on by `WHARF_LONG=1`).
    pub long: bool,
    /// The driver's requests are being broken on purpose (a fault proxy): a streaming read that
    /// breaks while its content is replaced may end with the error that says so
    /// ([`wharf_runtime::network::REPLACED_WHILE_READ`]) — never with short or mixed data.
    pub faults: bool,
}

impl RunOptions {
    /// Options from the environment (`WHARF_LONG=1` turns on long mode).
    pub fn from_env() -> Self {
        Self {
            long: std::env::var("WHARF_LONG").is_ok_and(|v| v == "1" || v == "true"),
            faults: false,
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
pub async fn run_check(
    check: &Check,
    fixture: Arc<dyn Fixture>,
    options: RunOptions,
) -> CheckResult {
    (check.run)(fixture.clone(), options).await?;
    support::assert_no_files(fixture.driver().as_ref()).await
}

/// Expands to one `#[tokio::test]` per conformance check, for a driver crate's own tests:
///
/// ```ignore
/// async fn make_fixture() -> Arc<dyn wharf_testsuite::Fixture> { /* fresh, empty storage */ }
///
/// wharf_testsuite::conformance_tests!(make_fixture);
/// ```
///
/// Each test is named after its check and runs it with [`run_named`] on a multi-thread runtime
/// (2 workers) on a fixture `make_fixture` creates for it, so tests may run concurrently. One
/// more test, `random_operations`, runs [`random::run`] on its own fixture: 300 random
/// operations against the contract's model (`WHARF_RANDOM_OPS` runs more, `WHARF_SEED` another
/// sequence); `conformance_tests!(make_fixture, checks_only)` leaves it out, for a test server
/// that cannot take it (one that keeps deleted prefixes as directories, as s3s-fs does). The
/// calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.
///
/// This macro also holds the one list of checks: [`checks()`] is built from it, so the tests a
/// driver runs and the checks `wharf check` runs cannot drift apart.
#[macro_export]
macro_rules! conformance_tests {
    // The list of checks: group, module under `checks/`, then the check functions in order.
    (@list [$($mode:tt)*]) => {
        $crate::conformance_tests! { @expand [$($mode)*]
            "paths" paths [
                root_exists,
                valid_paths,
                invalid_paths,
                root_rejected_where_not_allowed,
                paths_are_case_sensitive,
            ]
            "content" content [
                put_get_1_byte,
                put_get_2_bytes_utf8,
                put_get_32_bytes,
                put_get_1_mib,
                put_get_non_utf8,
                put_truncates,
                put_twice,
                get_missing,
                concurrent_puts_one_path,
                put_empty_creates_file,
                put_creates_parents,
                put_is_atomic_for_readers,
                get_content_large,
            ]
            "streams" streams [
                writer_1_byte,
                writer_2_bytes_utf8,
                writer_32_bytes,
                writer_1_mib,
                writer_non_utf8,
                writer_large_stream_sha256,
                reader_offsets,
                reader_missing,
                writer_commit_without_write_creates_empty_file,
                writer_commit_replaces_content,
                writer_size_never_runs_ahead,
                writer_drop_never_commits,
            ]
            "resume" resume [
                append_three_sessions_10_mib,
                append_three_sessions_32_bytes,
                append_after_zero_byte_commit,
                append_after_empty_put,
                resume_from_second_instance,
                append_missing_path,
                append_to_committed_content,
                writer_new_upload_discards_uncommitted,
                writer_state_errors,
                cancel_restores_previous_content,
                upload_state_hidden_from_listings,
            ]
            "stat" stat [
                stat_missing,
                stat_file,
                stat_mod_time_advances,
                stat_directory,
                stat_prefix_is_not_directory,
                stat_root,
            ]
            "list" list [
                list_missing,
                list_tree,
                list_sorted_byte_order,
                list_file,
            ]
            "move" rename [
                move_file,
                move_overwrite,
                move_missing_source,
                move_source_under_file,
                move_directory,
            ]
            "delete" delete [
                delete_file,
                delete_missing,
                delete_folder,
                delete_only_subpaths,
                delete_1005_entries,
            ]
            "redirect" redirect [
                redirect_get_and_head,
            ]
            "walk" walk [
                walk_all,
                walk_skip_dir,
                walk_start_late,
                walk_start_late_without_from,
                walk_start_late_with_from,
                walk_start_after_from,
                walk_start_equals_from,
                walk_start_after_directory,
                walk_start_missing,
                walk_stop_early,
                walk_visitor_error,
                walk_from_folder,
                walk_file_removed_during_walk,
                walk_missing,
                walk_empty_root,
                walk_sibling_byte_order,
            ]
            "concurrency" concurrency [
                concurrent_readers,
                concurrent_writers,
                concurrent_operations,
                conflicting_writers_keep_other_paths,
                read_after_write_second_instance,
            ]
        }
    };
    (@expand [tests $make:path] $($group:literal $module:ident [$($name:ident),* $(,)?])*) => {
        $($(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::run_named(stringify!($name), $make).await;
            }
        )*)*
    };
    (@random $make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn random_operations() {
            $crate::random::run_test($make).await;
        }
    };
    (@expand [names] $($group:literal $module:ident [$($name:ident),* $(,)?])*) => {
        [$($(stringify!($name)),*),*]
    };
    (@expand [checks] $($group:literal $module:ident [$($name:ident),* $(,)?])*) => {
        vec![$($(
            $crate::Check {
                group: $group,
                name: stringify!($name),
                run: |fixture, options| {
                    ::std::boxed::Box::pin($crate::checks::$module::$name(fixture, options))
                },
            }
        ),*),*]
    };
    ($make:path, checks_only $(,)?) => {
        $crate::conformance_tests!(@list [tests $make]);
    };
    ($make:path $(,)?) => {
        $crate::conformance_tests!(@list [tests $make]);
        $crate::conformance_tests!(@random $make);
    };
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn check_names_are_unique_and_all_in_the_macro() {
        let listed: &[&str] = &conformance_tests!(@list [names]);
        let names: Vec<&str> = checks().iter().map(|c| c.name).collect();
        assert_eq!(names, listed);
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate check names");
        for check in checks() {
            assert!(
                check
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                check.name
            );
        }
    }

    #[test]
    fn groups_follow_the_contract_order() {
        let order = [
            "paths",
            "content",
            "streams",
            "resume",
            "stat",
            "list",
            "move",
            "delete",
            "redirect",
            "walk",
            "concurrency",
        ];
        let mut groups: Vec<&str> = checks().iter().map(|c| c.group).collect();
        groups.dedup();
        assert_eq!(groups, order);
    }
}
