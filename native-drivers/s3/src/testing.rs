//! What the tests of the s3 driver and of the drivers built on it (oss) share: the S3 test
//! servers' addresses (from the environment that `servers/s3-up.sh` writes), fresh buckets on
//! them, and reading the parameter an error names. For tests only (the `testing` feature): its
//! functions panic, failing the test, where something is missing.

use wharf_runtime::{Error, ErrorKind};

use crate::{Config, S3Driver};

/// moto accepts any credentials; these are what the tests send.
pub const MOTO_KEY: &str = "wharf-test";

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: start the S3 test servers with `servers/s3-up.sh`, then \
             `. target/servers/s3.env` in this shell, and run the tests again"
        ),
    }
}

/// moto's URL (`WHARF_S3_ENDPOINT`).
pub fn moto_endpoint() -> String {
    required_env("WHARF_S3_ENDPOINT")
}

/// s3s-fs's URL and the one key pair it accepts.
pub fn s3s() -> (String, String, String) {
    (
        required_env("WHARF_S3S_ENDPOINT"),
        required_env("WHARF_S3S_ACCESS_KEY"),
        required_env("WHARF_S3S_SECRET_KEY"),
    )
}

/// A bucket name no other test uses.
pub fn unique_bucket(label: &str) -> String {
    format!("wharf-{label}-{:016x}", rand::random::<u64>())
}

/// Creates `bucket` at `endpoint` with the given credentials (with the s3 driver's client).
pub async fn create_bucket(endpoint: &str, bucket: &str, access: &str, secret: &str) {
    let driver = S3Driver::new(Config::for_endpoint(endpoint, bucket, access, secret))
        .await
        .expect("build a client");
    driver
        .sdk_client()
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket} at {endpoint}: {e:?}"));
}

/// A fresh moto bucket.
pub async fn moto_bucket(label: &str) -> String {
    let bucket = unique_bucket(label);
    create_bucket(&moto_endpoint(), &bucket, MOTO_KEY, MOTO_KEY).await;
    bucket
}

/// The parameter an `InvalidParameter` error names; panics on any other error.
pub fn key_of(e: &Error) -> String {
    match e.kind() {
        ErrorKind::InvalidParameter { key } => key.clone(),
        other => panic!("expected InvalidParameter, got {other:?}: {e}"),
    }
}
