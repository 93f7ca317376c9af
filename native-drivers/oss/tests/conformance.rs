//! The public conformance suite on the oss driver against moto, created through the factory
//! with the OSS parameters and OSS's client settings (only the addressing is path-style,
//! `forcepathstyle=true`, for loopback): each check gets its own bucket, under a `rootdirectory`, with the smallest part
//! size so multipart paths run on little data.

mod common;

use std::sync::Arc;

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    let bucket = common::moto_bucket("conformance").await;
    let params = common::oss_params(
        &common::moto_endpoint(),
        &bucket,
        common::MOTO_KEY,
        common::MOTO_KEY,
        &[("rootdirectory", "/wharf/oss/"), ("chunksize", "5MiB")],
    );
    Arc::new(
        FactoryFixture::new(common::registry(), "oss", params)
            .await
            .expect("create the oss driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
