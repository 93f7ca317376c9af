//! The public conformance suite on the swift driver against a real Swift, created through the
//! driver factory. Each check runs on its own new container (which the driver creates; half of
//! them under a `prefix`, so both layouts are covered), with 1 MiB segments on a cluster whose
//! `max_file_size` is small, so large objects are exercised by every size above it. The second
//! instance a check opens shares the container.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = common::server();
    let container = common::unique_container("conformance");
    let extra: &[(&str, &str)] = if NEXT.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
        &[]
    } else {
        &[("prefix", "/wharf/root")]
    };
    let params = common::params(&server, &container, extra);
    Arc::new(
        FactoryFixture::new(common::registry(), wharf_driver_swift::NAME, params)
            .await
            .expect("create the swift driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
