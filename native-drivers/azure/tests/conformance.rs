//! The public conformance suite on the azure driver against Azurite, created through the driver
//! factory. Each check runs on its own new container (half of them under a `rootdirectory`, so
//! both layouts are covered); the second instance a check opens shares it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = common::server();
    let container = common::unique_container("conformance");
    common::create_container(&server, &container).await;
    let extra: &[(&str, &str)] = if NEXT.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
        &[]
    } else {
        &[("rootdirectory", "/wharf/root/")]
    };
    let params = common::params(&server, &container, extra);
    Arc::new(
        FactoryFixture::new(common::registry(), wharf_driver_azure::NAME, params)
            .await
            .expect("create the azure driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
