//! What the s3 driver's tests share: the servers' addresses and fresh buckets (from the driver's
//! `testing` module, which the oss tests use too), and drivers on them.

// Each test binary uses a part of what is here.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

pub use wharf_driver_s3::testing::{
    MOTO_KEY, create_bucket, moto_bucket, moto_endpoint, s3s, unique_bucket,
};
use wharf_driver_s3::{Config, S3Driver};
use wharf_runtime::{DriverRegistry, Params, StorageDriver, Value};

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
