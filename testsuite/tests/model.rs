//! The suite checked against itself: a deliberately plain model of the contract (a map of paths
//! to contents under one lock, uploads parked beside it) must pass every check. A check that
//! fails here is a bug in the check, not in a driver. The model also proves that
//! `conformance_tests!` expands as a driver crate uses it.

mod common;

use std::sync::Arc;

use wharf_testsuite::Fixture;

async fn make_fixture() -> Arc<dyn Fixture> {
    // Small, odd-sized chunks, so that the suite's stream handling is exercised.
    common::fixture(common::Bug::None, 100_003)
}

wharf_testsuite::conformance_tests!(make_fixture);
