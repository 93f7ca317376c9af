//! What the oss driver's tests share: the servers' addresses (from the environment that
//! `servers/s3-up.sh` writes), fresh buckets, OSS parameters for them, and drivers built exactly
//! as the `oss` factory builds them but with path-style addressing, since a loopback server has
//! no per-bucket host names.

#![allow(dead_code)]

use std::sync::Arc;

use wharf_driver_oss::{Config, DIALECT, OssDriver};
use wharf_driver_s3::S3Driver;
use wharf_runtime::{DriverRegistry, Params, Result, StorageDriver, Value};

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
    ]);
    for (k, v) in extra {
        params.insert(*k, *v);
    }
    params
}

/// The oss driver for `config` with path-style addressing: the factory's client settings
/// otherwise (`to_core` and the OSS dialect).
pub async fn loopback_driver(config: &Config) -> Result<OssDriver> {
    let mut core = config.to_core();
    core.force_path_style = true;
    S3Driver::with_dialect(core, DIALECT).await
}

/// A registry whose `oss` reads the parameters as the real factory does and builds
/// [`loopback_driver`]s.
pub fn loopback_registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    registry
        .register(wharf_driver_oss::NAME, |params: Params| async move {
            let config = Config::from_params(params)?;
            let driver = loopback_driver(&config).await?;
            Ok(Arc::new(driver) as Arc<dyn StorageDriver>)
        })
        .expect("register the oss driver");
    registry
}

/// A driver through [`loopback_registry`] (behind the base layer).
pub async fn driver(params: Params) -> Arc<dyn StorageDriver> {
    loopback_registry()
        .create(wharf_driver_oss::NAME, params)
        .await
        .expect("create the oss driver")
}
