//! What the oss driver's tests share: the servers' addresses and fresh buckets (from the s3
//! driver's `testing` module, with bucket names of their own), OSS parameters for them (with path-style
//! addressing, since a loopback server has no per-bucket host names), and drivers made by the
//! `oss` factory.

// Each test binary uses a part of what is here.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

pub use wharf_driver_s3::testing::{MOTO_KEY, create_bucket, moto_endpoint, s3s};
use wharf_runtime::{DriverRegistry, Params, StorageDriver, Value};

/// A bucket name no other test uses.
pub fn unique_bucket(label: &str) -> String {
    wharf_driver_s3::testing::unique_bucket(&format!("oss-{label}"))
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
