//! What the s3 driver's tests share: the servers' addresses (from the environment that
//! `servers/s3-up.sh` writes), fresh buckets, and drivers on them.

#![allow(dead_code)]

use std::sync::Arc;

use wharf_driver_s3::{Config, S3Driver};
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
    format!("wharf-{label}-{:016x}", rand::random::<u64>())
}

/// Creates `bucket` at `endpoint` with the given credentials.
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

/// Factory parameters for `bucket` on moto, plus `extra`.
pub fn moto_params(bucket: &str, extra: &[(&str, &str)]) -> Params {
    let mut params = Params::from_pairs([
        ("bucket", Value::from(bucket)),
        ("regionendpoint", Value::from(moto_endpoint())),
        ("forcepathstyle", Value::from(true)),
        ("region", Value::from("us-east-1")),
        ("accesskey", Value::from(MOTO_KEY)),
        ("secretkey", Value::from(MOTO_KEY)),
    ]);
    for (k, v) in extra {
        params.insert(*k, *v);
    }
    params
}

/// A registry with the s3 driver.
pub fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    wharf_driver_s3::register(&mut registry).expect("register the s3 driver");
    registry
}

/// A driver (behind the base layer, through the factory) on `bucket` with `extra` parameters.
pub async fn moto_driver(bucket: &str, extra: &[(&str, &str)]) -> Arc<dyn StorageDriver> {
    registry()
        .create("s3", moto_params(bucket, extra))
        .await
        .expect("create the s3 driver")
}

/// The same driver built directly, to read its request counts, and behind the base layer.
pub async fn moto_driver_counted(
    bucket: &str,
    extra: &[(&str, &str)],
) -> (Arc<S3Driver>, Arc<dyn StorageDriver>) {
    let config = Config::from_params(moto_params(bucket, extra)).expect("parameters");
    let driver = Arc::new(S3Driver::new(config).await.expect("create the s3 driver"));
    let based = wharf_runtime::Base::wrap(driver.clone());
    (driver, based)
}
