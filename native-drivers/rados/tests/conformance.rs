//! The public conformance suite on the rados driver against a real Ceph cluster, created
//! through the driver factory. Each check runs in a RADOS namespace of its own in the test
//! pool (so checks run in parallel on one pool); every other check stripes content over
//! 64 KiB chunks instead of the default 4 MiB, so that files span many objects. The second
//! instance a check opens shares the namespace.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let cluster = common::cluster();
    let namespace = common::unique_namespace("conformance");
    let extra: &[(&str, &str)] = if NEXT.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
        &[]
    } else {
        &[("chunksize", "64KiB")]
    };
    let params = common::params(&cluster, &namespace, extra);
    Arc::new(
        FactoryFixture::new(common::registry(), wharf_driver_rados::NAME, params)
            .await
            .expect("create the rados driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
