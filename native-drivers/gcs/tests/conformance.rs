//! The public conformance suite on the gcs driver against fake-gcs-server, created through the
//! driver factory with the throwaway service account (so every request carries a token from the
//! local token endpoint, and `redirect_url` gives V4 signed URLs). Each check runs on its own new
//! bucket, half of them under a `rootdirectory` so both layouts are covered; the second instance
//! a check opens shares it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let bucket = common::unique_bucket("conformance");
    common::create_bucket(&bucket).await;
    let extra: &[(&str, &str)] = if NEXT.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
        &[]
    } else {
        &[("rootdirectory", "/wharf/root/")]
    };
    let params = common::key_params(&bucket, extra);
    Arc::new(
        FactoryFixture::new(common::registry(), wharf_driver_gcs::NAME, params)
            .await
            .expect("create the gcs driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
