//! Wharf's native oss driver: Aliyun OSS through the S3-compatible protocol OSS accepts,
//! registered as `oss`. It takes the reference registry's OSS parameters (`config`), maps them
//! onto the s3 driver's configuration, and builds the s3 driver's core with OSS's dialect: the
//! name `oss`, and `Content-MD5` (which OSS requires on DeleteObjects) instead of the SDK's
//! flexible checksums. Everything else — layout, uploads, listings, walks, moves, deletes,
//! pre-signed URLs, error mapping, whole (never `aws-chunked`) payloads, and readers that honour
//! their offset when a store answers a range with the whole object — is the s3 driver's, in one
//! place (README.md has the mapping).

#![forbid(unsafe_code)]

mod config;

use std::sync::Arc;

use wharf_driver_s3::{Checksums, Dialect, S3Driver};
use wharf_runtime::{DriverRegistry, Params, Result, StorageDriver};

pub use config::{
    Config, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, MULTIPART_COPY_MAX_CONCURRENCY,
    endpoint_for,
};

/// The name this driver registers under.
pub const NAME: &str = "oss";

/// OSS's rules for the shared S3-protocol core.
pub const DIALECT: Dialect = Dialect {
    name: NAME,
    checksums: Checksums::ContentMd5,
};

/// The oss driver is the s3 driver's core built with [`DIALECT`].
pub type OssDriver = S3Driver;

/// Registers the oss driver under [`NAME`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        let driver = new(&config).await?;
        Ok(Arc::new(driver) as Arc<dyn StorageDriver>)
    })
}

/// Builds the driver for `config`. No request is sent: a wrong bucket or credentials show on
/// the first call.
pub async fn new(config: &Config) -> Result<OssDriver> {
    S3Driver::with_dialect(config.to_core(), DIALECT).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wharf_runtime::{RedirectMethod, Value};

    use super::*;

    async fn url_for(pairs: &[(&str, Value)]) -> String {
        let mut all = vec![
            ("accesskeyid", Value::from("LTAI-test")),
            ("accesskeysecret", Value::from("not-a-real-secret")),
            ("bucket", Value::from("registry")),
        ];
        all.extend(pairs.iter().cloned());
        let config = Config::from_params(Params::from_pairs(all)).unwrap();
        let driver = new(&config).await.unwrap();
        assert_eq!(driver.name(), "oss");
        // Pre-signing sends nothing: the URL shows the host, addressing and signature scope
        // every request of this driver gets.
        driver
            .redirect_url(RedirectMethod::Get, "/a/b", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn requests_go_virtual_hosted_to_the_derived_endpoint_signed_with_sigv4() {
        let url = url_for(&[("region", "oss-cn-beijing".into())]).await;
        assert!(
            url.starts_with("https://registry.s3.oss-cn-beijing.aliyuncs.com/a/b?"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
        assert!(
            url.contains("%2Fcn-beijing%2Fs3%2Faws4_request"),
            "signed for the region id: {url}"
        );
        assert!(!url.contains("not-a-real-secret"), "{url}");

        let url = url_for(&[
            ("region", "cn-hangzhou".into()),
            ("internal", true.into()),
            ("secure", false.into()),
            ("rootdirectory", "/docker/".into()),
        ])
        .await;
        assert!(
            url.starts_with("http://registry.s3.oss-cn-hangzhou-internal.aliyuncs.com/docker/a/b?"),
            "{url}"
        );
    }

    #[tokio::test]
    async fn an_endpoint_override_is_used_as_given() {
        let url = url_for(&[
            ("region", "cn-shanghai".into()),
            ("endpoint", "https://oss.example.com".into()),
            ("internal", true.into()),
        ])
        .await;
        assert!(
            url.starts_with("https://registry.oss.example.com/a/b?"),
            "{url}"
        );
        assert!(url.contains("%2Fcn-shanghai%2Fs3%2Faws4_request"), "{url}");
    }
}
