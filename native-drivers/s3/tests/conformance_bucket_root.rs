//! The public conformance suite on the s3 driver against moto at the bucket's root (no
//! `rootdirectory`, default part size), through the reference's other name `s3aws`.

mod common;

use std::sync::Arc;

use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    let bucket = common::moto_bucket("root").await;
    let params = common::moto_params(&bucket, &[]);
    Arc::new(
        FactoryFixture::new(common::registry(), "s3aws", params)
            .await
            .expect("create the s3 driver as s3aws"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
