//! The public conformance suite on the bundled S3 guest, created through the factory as an
//! operator would (`guest-s3` with the native driver's parameters; the sandbox grants outbound
//! HTTP to exactly the configured endpoint), against both S3 test servers (`servers/s3-up.sh`):
//! moto, and s3s-fs, which checks every SigV4 signature and keeps keys as files. Each check gets
//! a bucket of its own, under a `rootdirectory`, with the smallest part size so multipart paths
//! run on little data.

use std::sync::Arc;

use wharf::{DriverRegistry, Params, WithBuiltin};
use wharf_driver_s3::testing as s3;
use wharf_testsuite::{FactoryFixture, Fixture};

async fn fixture(endpoint: String, access: &str, secret: &str, label: &str) -> Arc<dyn Fixture> {
    let bucket = s3::unique_bucket(label);
    s3::create_bucket(&endpoint, &bucket, access, secret).await;
    let params = Params::from_pairs([
        ("bucket", bucket),
        ("regionendpoint", endpoint),
        ("region", "us-east-1".into()),
        ("forcepathstyle", "true".into()),
        ("accesskey", access.into()),
        ("secretkey", secret.into()),
        ("rootdirectory", "/wharf/guest/".into()),
        ("chunksize", "5MiB".into()),
    ]);
    Arc::new(
        FactoryFixture::new(DriverRegistry::with_builtin(), wharf::guests::S3, params)
            .await
            .expect("create the S3 guest driver"),
    )
}

mod guest_s3_moto {
    use super::*;

    async fn make_fixture() -> Arc<dyn Fixture> {
        fixture(s3::moto_endpoint(), s3::MOTO_KEY, s3::MOTO_KEY, "guest").await
    }

    wharf_testsuite::conformance_tests!(make_fixture);
}

mod guest_s3_s3s {
    use super::*;

    async fn make_fixture() -> Arc<dyn Fixture> {
        let (endpoint, access, secret) = s3::s3s();
        fixture(endpoint, &access, &secret, "guest").await
    }

    // Without the random operations: s3s-fs keeps a key's prefix as a directory on its disk
    // after the key is deleted, and then answers 500 for a key at that prefix, which the
    // random sequences (paths reused on purpose) reach and the checks (fresh paths) do not.
    wharf_testsuite::conformance_tests!(make_fixture, checks_only);
}
