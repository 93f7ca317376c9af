//! The oss driver's parameters, read with the reference registry's names, defaults and range
//! checks, and their mapping onto the s3 driver's configuration. The endpoint is the one OSS
//! documents for its S3-compatible access, derived from `region`, `internal` and `secure` unless
//! `endpoint` overrides it. Bad values fail with `InvalidParameter` naming the key; unknown keys
//! are refused; `accesskeyid` and `accesskeysecret` are kept as [`Secret`]s.

use wharf_driver_s3::{Encryption, StaticCredentials, endpoint_url};
use wharf_runtime::network::Network;
use wharf_runtime::{Error, Params, Result, Secret};

/// The smallest part OSS accepts for every part but the last (5 MiB), as the reference checks.
pub const MIN_CHUNK_SIZE: u64 = wharf_driver_s3::MIN_CHUNK_SIZE;
/// The largest part OSS accepts (5 GiB).
pub const MAX_CHUNK_SIZE: u64 = wharf_driver_s3::MAX_CHUNK_SIZE;
/// `chunksize` when none is given (10 MiB).
pub const DEFAULT_CHUNK_SIZE: u64 = 2 * MIN_CHUNK_SIZE;
/// Parts of one multipart copy copied at once: the reference OSS driver's copy concurrency.
pub const MULTIPART_COPY_MAX_CONCURRENCY: usize = 10;

/// Everything an oss driver is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `accesskeyid`.
    pub access_key_id: Secret,
    /// `accesskeysecret`.
    pub access_key_secret: Secret,
    /// The region id without the `oss-` prefix (`cn-beijing`): the region requests are signed
    /// for, and the one the endpoint is derived from.
    pub region: String,
    /// `bucket`.
    pub bucket: String,
    /// `endpoint` as a URL, when given: it replaces the derived endpoint.
    pub endpoint: Option<String>,
    /// `internal`: the region's internal endpoint (from inside Alibaba Cloud).
    pub internal: bool,
    /// `encrypt`: server-side encryption of new objects.
    pub encrypt: bool,
    /// `secure`: HTTPS (the default) rather than HTTP.
    pub secure: bool,
    /// `chunksize`: the size of a writer's parts.
    pub chunk_size: u64,
    /// The key prefix, without leading or trailing `/` (empty for the bucket's root).
    pub root: String,
    /// Path-style addressing (`forcepathstyle`, off by default): not for OSS, which serves
    /// buckets on their own host names, but for an S3-compatible server reached by address,
    /// such as a test server on 127.0.0.1.
    pub force_path_style: bool,
    /// `max_retries`, `retry_delay`, `max_retry_delay`, `connect_timeout`, `read_timeout`.
    pub network: Network,
}

/// The endpoint OSS documents for S3-compatible access in `region` (with or without its `oss-`
/// prefix): `https://s3.oss-<region>.aliyuncs.com`, `…-internal…` from inside Aliyun's network,
/// `http://` when not `secure`.
pub fn endpoint_for(region: &str, internal: bool, secure: bool) -> String {
    let id = region.strip_prefix("oss-").unwrap_or(region);
    format!(
        "{}://s3.oss-{id}{}.aliyuncs.com",
        if secure { "https" } else { "http" },
        if internal { "-internal" } else { "" }
    )
}

impl Config {
    /// Reads every parameter, then rejects any key the driver does not know.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let access_key_id = required_secret(&mut params, "accesskeyid")?;
        let access_key_secret = required_secret(&mut params, "accesskeysecret")?;
        let region = region_id(&params.required_string("region")?)?;
        let bucket = params.required_string("bucket")?;
        let internal = params.bool("internal")?.unwrap_or(false);
        let encrypt = params.bool("encrypt")?.unwrap_or(false);
        let secure = params.bool("secure")?.unwrap_or(true);
        let force_path_style = params.bool("forcepathstyle")?.unwrap_or(false);
        let chunk_size = params.size("chunksize")?.unwrap_or(DEFAULT_CHUNK_SIZE);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::invalid_parameter(
                "chunksize",
                format!(
                    "expected a number between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} \
                     (inclusive), got {chunk_size}"
                ),
            ));
        }
        let root = params
            .string("rootdirectory")?
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned();
        let endpoint = match params.string("endpoint")? {
            Some(value) if !value.trim().is_empty() => {
                Some(endpoint_url("endpoint", &value, secure)?)
            }
            _ => None,
        };
        let network = Network::from_params(&mut params, Network::default())?;
        params.finish()?;
        Ok(Self {
            access_key_id,
            access_key_secret,
            region,
            bucket,
            endpoint,
            internal,
            encrypt,
            secure,
            chunk_size,
            root,
            force_path_style,
            network,
        })
    }

    /// The URL requests go to: `endpoint` when given, else the one derived from `region`,
    /// `internal` and `secure`.
    pub fn endpoint_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| endpoint_for(&self.region, self.internal, self.secure))
    }

    /// The s3 driver's configuration that speaks OSS's S3-compatible protocol: OSS's endpoint,
    /// virtual-hosted addressing (unless `forcepathstyle`), the region id as SigV4 region, static credentials, SSE with
    /// AES256 for `encrypt`, private objects in the bucket's default storage class, and none of
    /// the Amazon-only endpoint variants.
    pub fn to_core(&self) -> wharf_driver_s3::Config {
        wharf_driver_s3::Config {
            credentials: Some(StaticCredentials {
                access_key: self.access_key_id.clone(),
                secret_key: self.access_key_secret.clone(),
                session_token: None,
            }),
            region: self.region.clone(),
            region_endpoint: Some(self.endpoint_url()),
            force_path_style: self.force_path_style,
            bucket: self.bucket.clone(),
            encryption: if self.encrypt {
                Encryption::Aes256
            } else {
                Encryption::None
            },
            secure: self.secure,
            chunk_size: self.chunk_size,
            multipart_copy_chunk_size: wharf_driver_s3::DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
            multipart_copy_max_concurrency: MULTIPART_COPY_MAX_CONCURRENCY,
            multipart_copy_threshold_size: wharf_driver_s3::DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
            root: self.root.clone(),
            storage_class: None,
            object_acl: "private".to_owned(),
            user_agent: None,
            use_dual_stack: false,
            accelerate: false,
            use_fips_endpoint: false,
            log_requests: false,
            redirect_endpoint: None,
            network: self.network,
        }
    }
}

fn required_secret(params: &mut Params, key: &str) -> Result<Secret> {
    match params.secret(key)? {
        Some(secret) if !secret.expose().is_empty() => Ok(secret),
        _ => Err(Error::invalid_parameter(
            key,
            "missing required parameter (OSS needs an AccessKey pair)",
        )),
    }
}

/// `oss-cn-beijing` or `cn-beijing` → `cn-beijing`.
fn region_id(region: &str) -> Result<String> {
    let id = region.strip_prefix("oss-").unwrap_or(region);
    let well_formed = !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return Err(Error::invalid_parameter(
            "region",
            format!(
                "expected an OSS region id such as oss-cn-beijing or cn-beijing, got {region:?}"
            ),
        ));
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use wharf_driver_s3::testing::key_of;
    use wharf_runtime::Value;

    use super::*;

    fn config(pairs: &[(&str, Value)]) -> Result<Config> {
        let mut all = vec![
            ("accesskeyid", Value::from("AKID")),
            ("accesskeysecret", Value::from("SECRET")),
            ("region", Value::from("oss-cn-beijing")),
            ("bucket", Value::from("b")),
        ];
        all.retain(|(k, _)| !pairs.iter().any(|(p, _)| p == k));
        all.extend(pairs.iter().cloned());
        Config::from_params(Params::from_pairs(all))
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = config(&[]).unwrap();
        assert_eq!(c.region, "cn-beijing");
        assert_eq!(c.endpoint, None);
        assert!(!c.internal);
        assert!(!c.encrypt);
        assert!(c.secure);
        assert_eq!(c.chunk_size, 10 << 20);
        assert_eq!(c.root, "");
    }

    #[test]
    fn every_parameter_is_read_and_secrets_stay_hidden() {
        let c = config(&[
            ("region", "cn-hangzhou".into()),
            ("endpoint", "oss.example.com:8443/".into()),
            ("internal", "true".into()),
            ("encrypt", true.into()),
            ("secure", true.into()),
            ("chunksize", "16MiB".into()),
            ("rootdirectory", "/registry/".into()),
        ])
        .unwrap();
        assert_eq!(c.access_key_id.expose(), "AKID");
        assert_eq!(c.access_key_secret.expose(), "SECRET");
        assert_eq!(c.region, "cn-hangzhou");
        assert_eq!(c.endpoint.as_deref(), Some("https://oss.example.com:8443"));
        assert!(c.internal && c.encrypt && c.secure);
        assert_eq!(c.chunk_size, 16 << 20);
        assert_eq!(c.root, "registry");
        let core = c.to_core();
        for shown in [format!("{c:?}"), format!("{core:?}")] {
            assert!(
                !shown.contains("AKID") && !shown.contains("SECRET"),
                "{shown}"
            );
        }
    }

    #[test]
    fn endpoint_derivation_covers_every_combination() {
        for region in ["oss-cn-beijing", "cn-beijing"] {
            for internal in [false, true] {
                for secure in [false, true] {
                    let scheme = if secure { "https" } else { "http" };
                    let host = if internal {
                        "s3.oss-cn-beijing-internal.aliyuncs.com"
                    } else {
                        "s3.oss-cn-beijing.aliyuncs.com"
                    };
                    let derived = format!("{scheme}://{host}");
                    assert_eq!(endpoint_for(region, internal, secure), derived);
                    let params = [
                        ("region", Value::from(region)),
                        ("internal", Value::from(internal)),
                        ("secure", Value::from(secure)),
                    ];
                    let c = config(&params).unwrap();
                    assert_eq!(c.endpoint_url(), derived, "{params:?}");
                    assert_eq!(c.to_core().region_endpoint.as_deref(), Some(&*derived));
                    assert_eq!(c.to_core().region, "cn-beijing");

                    // An override wins whatever `internal` says; a bare host takes its scheme
                    // from `secure`, a URL keeps its own.
                    let mut with = params.to_vec();
                    with.push(("endpoint", Value::from("oss.example.com")));
                    let c = config(&with).unwrap();
                    assert_eq!(c.endpoint_url(), format!("{scheme}://oss.example.com"));
                    let mut with = params.to_vec();
                    with.push(("endpoint", Value::from("http://127.0.0.1:9000")));
                    let c = config(&with).unwrap();
                    assert_eq!(c.endpoint_url(), "http://127.0.0.1:9000");
                    // An empty override is no override.
                    let mut with = params.to_vec();
                    with.push(("endpoint", Value::from("")));
                    assert_eq!(config(&with).unwrap().endpoint_url(), derived);
                }
            }
        }
    }

    #[test]
    fn the_core_speaks_oss_s3_protocol() {
        let core = config(&[]).unwrap().to_core();
        assert!(!core.force_path_style, "virtual-hosted addressing");
        let core = config(&[("forcepathstyle", true.into())])
            .unwrap()
            .to_core();
        assert!(core.force_path_style, "path-style addressing when asked");
        assert_eq!(core.encryption, Encryption::None);
        assert_eq!(core.storage_class, None);
        assert_eq!(core.object_acl, "private");
        assert_eq!(core.multipart_copy_max_concurrency, 10);
        assert!(!core.use_dual_stack && !core.accelerate && !core.use_fips_endpoint);
        let core = config(&[("encrypt", true.into())]).unwrap().to_core();
        assert_eq!(core.encryption, Encryption::Aes256);
    }

    #[test]
    fn required_keys_are_named() {
        for key in ["accesskeyid", "accesskeysecret", "region", "bucket"] {
            let mut params = Params::from_pairs([
                ("accesskeyid", "AKID"),
                ("accesskeysecret", "SECRET"),
                ("region", "cn-beijing"),
                ("bucket", "b"),
            ]);
            params.insert(key, "");
            let e = Config::from_params(params).unwrap_err();
            assert_eq!(key_of(&e), key, "empty {key}: {e}");
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
        let e = Config::from_params(Params::from_pairs([
            ("accesskeyid", "AKID"),
            ("region", "cn-beijing"),
            ("bucket", "b"),
        ]))
        .unwrap_err();
        assert_eq!(key_of(&e), "accesskeysecret");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("chunksize", Value::from(5242879)),
            ("chunksize", Value::from("6GiB")),
            ("chunksize", Value::from("big")),
            ("region", Value::from("oss-")),
            ("region", Value::from("CN-Beijing")),
            ("region", Value::from("cn-beijing-")),
            ("internal", Value::from("maybe")),
            ("encrypt", Value::from("yes please")),
            ("secure", Value::from(3)),
            ("endpoint", Value::from("ftp://oss.example.com")),
            ("endpoint", Value::from("https://user@oss.example.com")),
        ] {
            let e = config(&[(key, value.clone())]).unwrap_err();
            assert_eq!(key_of(&e), key, "{value:?}: {e}");
        }
        let c = config(&[("chunksize", 5242880.into())]).unwrap();
        assert_eq!(c.chunk_size, MIN_CHUNK_SIZE);
    }

    #[test]
    fn unknown_keys_are_refused() {
        for key in ["accesskey", "regionendpoint", "bukket"] {
            let e = config(&[(key, "x".into())]).unwrap_err();
            assert_eq!(key_of(&e), key);
        }
    }
}
