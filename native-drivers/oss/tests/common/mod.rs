//! What the oss driver's tests share: the servers' addresses (from the environment that
//! `servers/s3-up.sh` writes), fresh buckets, OSS parameters for them (with path-style
//! addressing, since a loopback server has no per-bucket host names), and drivers made by the
//! `oss` factory.

#![allow(dead_code)]

use std::sync::Arc;

use wharf_driver_s3::S3Driver;
use wharf_runtime::{DriverRegistry, Params, StorageDriver, Value};

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
    format!("wharf-oss-{label}-{:016x}", rand::random::<u64>())
}

/// Creates `bucket` at `endpoint` (with the s3 driver's client: bucket creation is no part of
/// the oss driver).
pub async fn create_bucket(endpoint: &str, bucket: &str, access: &str, secret: &str) {
    let config = wharf_driver_s3::Config::for_endpoint(endpoint, bucket, access, secret);
    let driver = S3Driver::new(config).await.expect("build a client");
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

/// The reference's OSS parameters for `bucket` at `endpoint`, plus `extra`.
pub fn oss_params(
    endpoint: &str,
    bucket: &str,
    access: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> Params {
    let mut params = Params::from_pairs([
        ("accesskeyid", Value::from(access)),
        ("accesskeysecret", Value::from(secret)),
        ("region", Value::from("oss-cn-beijing")),
        ("bucket", Value::from(bucket)),
        ("endpoint", Value::from(endpoint)),
        ("forcepathstyle", Value::from(true)),
    ]);
    for (k, v) in extra {
        params.insert(*k, *v);
    }
    params
}

/// A registry with the `oss` driver, as Wharf registers it.
pub fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    wharf_driver_oss::register(&mut registry).expect("register the oss driver");
    registry
}

/// A driver through [`registry`] (behind the base layer).
pub async fn driver(params: Params) -> Arc<dyn StorageDriver> {
    registry()
        .create(wharf_driver_oss::NAME, params)
        .await
        .expect("create the oss driver")
}
