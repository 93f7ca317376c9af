//! The public conformance suite on the s3 driver against moto, created through the factory:
//! each check gets its own bucket, under a `rootdirectory` (so the key layout with a root is
//! what the suite sees) and with the smallest part size (so multipart paths run on little data).
//! `conformance_bucket_root.rs` runs it again at the bucket's root.

mod common;

use std::sync::Arc;

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    let bucket = common::moto_bucket("conformance").await;
    let params = common::moto_params(
        &bucket,
        &[
            ("rootdirectory", "/wharf/conformance/"),
            ("chunksize", "5MiB"),
        ],
    );
    Arc::new(
        FactoryFixture::new(common::registry(), "s3", params)
            .await
            .expect("create the s3 driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
