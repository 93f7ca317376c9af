//! The driver's parameters, read with the reference registry's names, defaults and range checks
//! so that an existing `config.yml` `storage: s3:` section works unchanged. Every bad value fails
//! with `InvalidParameter` naming the key and the expected form; unknown keys are refused.
//! `accesskey`, `secretkey` and `sessiontoken` are kept as [`Secret`]s.

use wharf_runtime::network::Network;
use wharf_runtime::{Error, Params, Result, Secret, Value};

/// The smallest part S3 accepts for every part but the last (5 MiB).
pub const MIN_CHUNK_SIZE: u64 = 5 << 20;
/// The largest part S3 accepts (5 GiB).
pub const MAX_CHUNK_SIZE: u64 = 5 << 30;
/// `chunksize` when none is given (10 MiB).
pub const DEFAULT_CHUNK_SIZE: u64 = 2 * MIN_CHUNK_SIZE;
/// `multipartcopychunksize` when none is given (32 MiB).
pub const DEFAULT_MULTIPART_COPY_CHUNK_SIZE: u64 = 32 << 20;
/// `multipartcopymaxconcurrency` when none is given.
pub const DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY: u64 = 100;
/// `multipartcopythresholdsize` when none is given (32 MiB).
pub const DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE: u64 = 32 << 20;
/// The region used to sign requests to a `regionendpoint` when no `region` is given.
pub const DEFAULT_ENDPOINT_REGION: &str = "us-east-1";

/// Storage classes the reference accepts (`NONE` sends no storage class at all).
pub const STORAGE_CLASSES: [&str; 9] = [
    "NONE",
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "OUTPOSTS",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];

/// Canned object ACLs the reference accepts.
pub const OBJECT_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// Log levels the reference accepts for `loglevel`.
pub const LOG_LEVELS: [&str; 7] = [
    "off",
    "debug",
    "debugwithsigning",
    "debugwithhttpbody",
    "debugwithrequestretries",
    "debugwithrequesterrors",
    "debugwitheventstreambody",
];

/// How a store wants request bodies checked, beyond the SigV4 payload hash every request carries.
///
/// Either way, payloads are sent whole (`Content-Length`, signed SHA-256): never as `aws-chunked`
/// encoding and never with streaming checksum trailers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksums {
    /// The SDK's flexible checksums (a CRC32 header) only where S3 requires one (DeleteObjects).
    WhenRequired,
    /// No flexible checksum at all; `Content-MD5` where S3 requires a checksum (DeleteObjects),
    /// for stores that require that header there and know no other (Aliyun OSS).
    ContentMd5,
}

/// What sets one S3-protocol store apart beyond its parameters: the name the driver answers to
/// and the request rules the store needs. A driver for another store speaking the S3 protocol
/// maps its own parameters onto a [`Config`] and builds the shared core with its dialect
/// (`S3Driver::with_dialect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// What `StorageDriver::name` answers.
    pub name: &'static str,
    /// When requests carry a checksum of their body.
    pub checksums: Checksums,
}

impl Dialect {
    /// Amazon S3 and the S3-compatible stores the `s3` driver serves.
    pub const S3: Dialect = Dialect {
        name: "s3",
        checksums: Checksums::WhenRequired,
    };
}

/// Static credentials (`accesskey` + `secretkey`, optionally `sessiontoken`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// `accesskey`.
    pub access_key: Secret,
    /// `secretkey`.
    pub secret_key: Secret,
    /// `sessiontoken`, for temporary credentials.
    pub session_token: Option<Secret>,
}

/// Server-side encryption requested by `encrypt` and `keyid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// `encrypt: false` (the default): nothing is requested.
    None,
    /// `encrypt: true` without `keyid`: SSE-S3 (`AES256`).
    Aes256,
    /// `encrypt: true` with `keyid`: SSE-KMS with that key.
    Kms {
        /// The KMS key id or ARN (`keyid`).
        key_id: String,
    },
}

/// Everything an s3 driver is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `None` means the SDK's default credential chain (environment, profile, web identity,
    /// container and instance metadata).
    pub credentials: Option<StaticCredentials>,
    /// `region`: the region requests are signed for (and the AWS endpoint's, without
    /// `regionendpoint`).
    pub region: String,
    /// A full URL (`scheme://host[:port]`) of an S3-compatible service, if any.
    pub region_endpoint: Option<String>,
    /// `forcepathstyle`: `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    pub force_path_style: bool,
    /// `bucket`.
    pub bucket: String,
    /// `encrypt` and `keyid`.
    pub encryption: Encryption,
    /// `secure`: HTTPS (the default) rather than HTTP where the endpoint has no scheme.
    pub secure: bool,
    /// `chunksize`: the size of a writer's parts.
    pub chunk_size: u64,
    /// `multipartcopychunksize`: the size of a large move's copied parts.
    pub multipart_copy_chunk_size: u64,
    /// `multipartcopymaxconcurrency`: copied parts in flight at once.
    pub multipart_copy_max_concurrency: usize,
    /// `multipartcopythresholdsize`: objects larger than this move in copied parts.
    pub multipart_copy_threshold_size: u64,
    /// The key prefix, without leading or trailing `/` (empty for the bucket's root).
    pub root: String,
    /// `None` for `NONE`.
    pub storage_class: Option<String>,
    /// `objectacl`: the canned ACL of new objects.
    pub object_acl: String,
    /// `useragent`: added to the SDK's user agent.
    pub user_agent: Option<String>,
    /// `usedualstack`: AWS's dual-stack (IPv4 and IPv6) endpoints.
    pub use_dual_stack: bool,
    /// `accelerate`: S3 Transfer Acceleration endpoints.
    pub accelerate: bool,
    /// `usefipsendpoint`: AWS's FIPS endpoints.
    pub use_fips_endpoint: bool,
    /// True unless `loglevel` is `off`: every request is logged at debug level.
    pub log_requests: bool,
    /// `scheme://host[:port]` that pre-signed URLs are made for, if any.
    pub redirect_endpoint: Option<String>,
    /// `max_retries`, `retry_delay`, `max_retry_delay`, `connect_timeout`, `read_timeout`.
    pub network: Network,
}

impl Config {
    /// A configuration for `bucket` at an S3-compatible `endpoint` with static credentials and
    /// path-style addressing, every other parameter at its default (handy for tests and tools).
    pub fn for_endpoint(endpoint: &str, bucket: &str, access_key: &str, secret_key: &str) -> Self {
        Self {
            credentials: Some(StaticCredentials {
                access_key: Secret::new(access_key),
                secret_key: Secret::new(secret_key),
                session_token: None,
            }),
            region: DEFAULT_ENDPOINT_REGION.to_owned(),
            region_endpoint: Some(endpoint.trim_end_matches('/').to_owned()),
            force_path_style: true,
            bucket: bucket.to_owned(),
            encryption: Encryption::None,
            secure: true,
            chunk_size: DEFAULT_CHUNK_SIZE,
            multipart_copy_chunk_size: DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
            multipart_copy_max_concurrency: DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY as usize,
            multipart_copy_threshold_size: DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
            root: String::new(),
            storage_class: Some("STANDARD".to_owned()),
            object_acl: "private".to_owned(),
            user_agent: None,
            use_dual_stack: false,
            accelerate: false,
            use_fips_endpoint: false,
            log_requests: false,
            redirect_endpoint: None,
            network: Network::default(),
        }
    }

    /// Reads every parameter, then rejects any key the driver does not know.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let access_key = non_empty_secret(&mut params, "accesskey")?;
        let secret_key = non_empty_secret(&mut params, "secretkey")?;
        let session_token = non_empty_secret(&mut params, "sessiontoken")?;
        let credentials = match (access_key, secret_key) {
            (Some(access_key), Some(secret_key)) => Some(StaticCredentials {
                access_key,
                secret_key,
                session_token,
            }),
            (None, None) => {
                if session_token.is_some() {
                    return Err(Error::invalid_parameter(
                        "sessiontoken",
                        "a session token needs accesskey and secretkey too",
                    ));
                }
                None
            }
            (Some(_), None) => {
                return Err(Error::invalid_parameter(
                    "secretkey",
                    "missing: accesskey is set, so secretkey must be set too (leave both empty \
                     for the default credential chain)",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::invalid_parameter(
                    "accesskey",
                    "missing: secretkey is set, so accesskey must be set too (leave both empty \
                     for the default credential chain)",
                ));
            }
        };

        let secure = bool_or(&mut params, "secure", true)?;
        let region_endpoint = match non_empty_string(&mut params, "regionendpoint")? {
            None => None,
            Some(endpoint) => Some(endpoint_url("regionendpoint", &endpoint, secure)?),
        };
        let region = match (non_empty_string(&mut params, "region")?, &region_endpoint) {
            (Some(region), _) => {
                if !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(Error::invalid_parameter(
                        "region",
                        format!("expected a region name such as us-east-1, got {region:?}"),
                    ));
                }
                region
            }
            (None, Some(_)) => DEFAULT_ENDPOINT_REGION.to_owned(),
            (None, None) => {
                return Err(Error::invalid_parameter(
                    "region",
                    "missing required parameter (expected a region such as us-east-1, or a \
                     regionendpoint)",
                ));
            }
        };
        let force_path_style = bool_or(&mut params, "forcepathstyle", false)?;
        let bucket = params.required_string("bucket")?;

        let encrypt = bool_or(&mut params, "encrypt", false)?;
        let key_id = non_empty_string(&mut params, "keyid")?;
        let encryption = match (encrypt, key_id) {
            (false, _) => Encryption::None,
            (true, None) => Encryption::Aes256,
            (true, Some(key_id)) => Encryption::Kms { key_id },
        };

        if bool_or(&mut params, "skipverify", false)? {
            return Err(Error::invalid_parameter(
                "skipverify",
                "expected false: this driver always verifies TLS certificates (use plain http \
                 in regionendpoint for a test server, or a certificate the system trusts)",
            ));
        }
        if !bool_or(&mut params, "v4auth", true)? {
            return Err(Error::invalid_parameter(
                "v4auth",
                "expected true: this driver signs with AWS Signature Version 4 only",
            ));
        }

        let chunk_size = size_in(
            &mut params,
            "chunksize",
            DEFAULT_CHUNK_SIZE,
            MIN_CHUNK_SIZE,
            MAX_CHUNK_SIZE,
        )?;
        let multipart_copy_chunk_size = size_in(
            &mut params,
            "multipartcopychunksize",
            DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
            MIN_CHUNK_SIZE,
            MAX_CHUNK_SIZE,
        )?;
        let multipart_copy_max_concurrency = integer_in(
            &mut params,
            "multipartcopymaxconcurrency",
            DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
            1,
            i64::MAX as u64,
        )?;
        let multipart_copy_threshold_size = size_in(
            &mut params,
            "multipartcopythresholdsize",
            DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
            0,
            MAX_CHUNK_SIZE,
        )?;

        let root = params
            .string("rootdirectory")?
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned();

        let storage_class = match params.string("storageclass")? {
            None => Some("STANDARD".to_owned()),
            Some(class) => {
                let upper = class.to_ascii_uppercase();
                if !STORAGE_CLASSES.contains(&upper.as_str()) {
                    return Err(Error::invalid_parameter(
                        "storageclass",
                        format!(
                            "expected one of {}, got {class:?}",
                            STORAGE_CLASSES.join(", ")
                        ),
                    ));
                }
                (upper != "NONE").then_some(upper)
            }
        };
        let object_acl = match params.string("objectacl")? {
            None => "private".to_owned(),
            Some(acl) if OBJECT_ACLS.contains(&acl.as_str()) => acl,
            Some(acl) => {
                return Err(Error::invalid_parameter(
                    "objectacl",
                    format!("expected one of {}, got {acl:?}", OBJECT_ACLS.join(", ")),
                ));
            }
        };
        let user_agent = non_empty_string(&mut params, "useragent")?;
        if let Some(agent) = &user_agent
            && http::HeaderValue::from_str(agent).is_err()
        {
            return Err(Error::invalid_parameter(
                "useragent",
                "expected text that can stand in an HTTP header (visible ASCII and spaces)",
            ));
        }
        let use_dual_stack = bool_or(&mut params, "usedualstack", false)?;
        let accelerate = bool_or(&mut params, "accelerate", false)?;
        let use_fips_endpoint = bool_or(&mut params, "usefipsendpoint", false)?;
        let log_requests = log_level(&mut params)?;
        let redirect_endpoint = match non_empty_string(&mut params, "redirectendpoint")? {
            None => None,
            Some(url) => Some(redirect_endpoint(&url)?),
        };
        let network = Network::from_params(&mut params, Network::default())?;
        if !secure && region_endpoint.is_none() {
            return Err(Error::invalid_parameter(
                "secure",
                "expected true: Amazon S3 is reached over https; for plain http, give an http:// \
                 regionendpoint",
            ));
        }
        params.finish()?;

        Ok(Self {
            credentials,
            region,
            region_endpoint,
            force_path_style,
            bucket,
            encryption,
            secure,
            chunk_size,
            multipart_copy_chunk_size,
            multipart_copy_max_concurrency: usize::try_from(multipart_copy_max_concurrency)
                .unwrap_or(usize::MAX),
            multipart_copy_threshold_size,
            root,
            storage_class,
            object_acl,
            user_agent,
            use_dual_stack,
            accelerate,
            use_fips_endpoint,
            log_requests,
            redirect_endpoint,
            network,
        })
    }
}

fn non_empty_string(params: &mut Params, key: &str) -> Result<Option<String>> {
    Ok(params.string(key)?.filter(|s| !s.trim().is_empty()))
}

fn non_empty_secret(params: &mut Params, key: &str) -> Result<Option<Secret>> {
    Ok(params.secret(key)?.filter(|s| !s.expose().is_empty()))
}

fn bool_or(params: &mut Params, key: &str, default: bool) -> Result<bool> {
    Ok(params.bool(key)?.unwrap_or(default))
}

fn out_of_range(key: &str, value: u64, min: u64, max: u64) -> Error {
    Error::invalid_parameter(
        key,
        format!("expected a number between {min} and {max} (inclusive), got {value}"),
    )
}

/// A byte size (`10485760`, `"10MiB"`) within `[min, max]`.
fn size_in(params: &mut Params, key: &str, default: u64, min: u64, max: u64) -> Result<u64> {
    let value = params.size(key)?.unwrap_or(default);
    if value < min || value > max {
        return Err(out_of_range(key, value, min, max));
    }
    Ok(value)
}

/// An integer within `[min, max]`.
fn integer_in(params: &mut Params, key: &str, default: u64, min: u64, max: u64) -> Result<u64> {
    let value = params.u64(key)?.unwrap_or(default);
    if value < min || value > max {
        return Err(out_of_range(key, value, min, max));
    }
    Ok(value)
}

/// `loglevel`: one of [`LOG_LEVELS`] (case-insensitive), or `false` (YAML's reading of `off`).
fn log_level(params: &mut Params) -> Result<bool> {
    if let Some(Value::Bool(false)) = params.get("loglevel") {
        params.mark_taken("loglevel");
        return Ok(false);
    }
    match params.string("loglevel")? {
        None => Ok(false),
        Some(level) => {
            let lower = level.to_ascii_lowercase();
            if !LOG_LEVELS.contains(&lower.as_str()) {
                return Err(Error::invalid_parameter(
                    "loglevel",
                    format!("expected one of {}, got {level:?}", LOG_LEVELS.join(", ")),
                ));
            }
            Ok(lower != "off")
        }
    }
}

/// Splits `scheme://authority[/path][?query]`; `None` when there is no `://`.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    Some((scheme, authority, tail))
}

fn valid_authority(authority: &str) -> bool {
    !authority.is_empty()
        && !authority.contains('@')
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// An endpoint parameter (`key`) as a URL: a bare `host[:port]` gets `https://` (or `http://`
/// when `secure` is false), as the reference's SDK did; a trailing `/` is dropped. Anything but
/// an http or https URL with a plain host is `InvalidParameter` naming `key`.
pub fn endpoint_url(key: &str, value: &str, secure: bool) -> Result<String> {
    let value = value.trim().trim_end_matches('/');
    let url = if value.contains("://") {
        value.to_owned()
    } else {
        format!("{}://{value}", if secure { "https" } else { "http" })
    };
    match split_url(&url) {
        Some(("http" | "https", authority, _)) if valid_authority(authority) => Ok(url),
        _ => Err(Error::invalid_parameter(
            key,
            format!("expected a URL such as https://s3.example.com:9000, got {value:?}"),
        )),
    }
}

/// `redirectendpoint`: scheme and host required; no path (beyond `/`) and no query, since the
/// URL's path and query come from the signed request.
fn redirect_endpoint(value: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::invalid_parameter(
            "redirectendpoint",
            format!("expected scheme://host[:port] ({why}), got {value:?}"),
        )
    };
    let Some((scheme, authority, tail)) = split_url(value.trim()) else {
        return Err(bad("no scheme"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    if !valid_authority(authority) {
        return Err(bad("no valid host"));
    }
    if tail.contains('?') {
        return Err(bad("query parameters would break the signature"));
    }
    if !(tail.is_empty() || tail == "/") {
        return Err(bad("a base path is not allowed"));
    }
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::key_of;

    fn config(pairs: &[(&str, Value)]) -> Result<Config> {
        let mut all = vec![
            ("bucket", Value::from("b")),
            ("region", Value::from("eu-west-1")),
        ];
        all.extend(pairs.iter().cloned());
        Config::from_params(Params::from_pairs(all))
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = config(&[]).unwrap();
        assert_eq!(c.credentials, None);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.region_endpoint, None);
        assert!(!c.force_path_style);
        assert_eq!(c.encryption, Encryption::None);
        assert!(c.secure);
        assert_eq!(c.chunk_size, 10 << 20);
        assert_eq!(c.multipart_copy_chunk_size, 32 << 20);
        assert_eq!(c.multipart_copy_max_concurrency, 100);
        assert_eq!(c.multipart_copy_threshold_size, 32 << 20);
        assert_eq!(c.root, "");
        assert_eq!(c.storage_class.as_deref(), Some("STANDARD"));
        assert_eq!(c.object_acl, "private");
        assert!(!c.log_requests);
        assert_eq!(c.redirect_endpoint, None);
    }

    #[test]
    fn every_parameter_is_read() {
        let c = config(&[
            ("accesskey", "AK".into()),
            ("secretkey", "SK".into()),
            ("sessiontoken", "TOKEN".into()),
            ("regionendpoint", "http://127.0.0.1:9000/".into()),
            ("forcepathstyle", "true".into()),
            ("encrypt", true.into()),
            ("keyid", "arn:key".into()),
            ("secure", "false".into()),
            ("skipverify", false.into()),
            ("v4auth", true.into()),
            ("chunksize", "6MiB".into()),
            ("multipartcopychunksize", 5242880.into()),
            ("multipartcopymaxconcurrency", "4".into()),
            ("multipartcopythresholdsize", 0.into()),
            ("rootdirectory", "/registry/".into()),
            ("storageclass", "none".into()),
            ("objectacl", "bucket-owner-full-control".into()),
            ("useragent", "wharf test".into()),
            ("usedualstack", false.into()),
            ("accelerate", false.into()),
            ("usefipsendpoint", false.into()),
            ("loglevel", "Debug".into()),
            ("redirectendpoint", "https://cdn.example.com/".into()),
        ])
        .unwrap();
        let creds = c.credentials.clone().unwrap();
        assert_eq!(creds.access_key.expose(), "AK");
        assert_eq!(creds.secret_key.expose(), "SK");
        assert_eq!(creds.session_token.unwrap().expose(), "TOKEN");
        assert_eq!(c.region_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.force_path_style);
        assert_eq!(
            c.encryption,
            Encryption::Kms {
                key_id: "arn:key".into()
            }
        );
        assert_eq!(c.chunk_size, 6 << 20);
        assert_eq!(c.multipart_copy_max_concurrency, 4);
        assert_eq!(c.multipart_copy_threshold_size, 0);
        assert_eq!(c.root, "registry");
        assert_eq!(c.storage_class, None);
        assert_eq!(c.user_agent.as_deref(), Some("wharf test"));
        assert!(c.log_requests);
        assert_eq!(
            c.redirect_endpoint.as_deref(),
            Some("https://cdn.example.com")
        );
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("AK") && !debug.contains("SK") && !debug.contains("TOKEN"),
            "{debug}"
        );
    }

    #[test]
    fn region_is_required_without_an_endpoint() {
        let e = Config::from_params(Params::from_pairs([("bucket", "b")])).unwrap_err();
        assert_eq!(key_of(&e), "region");
        let c = Config::from_params(Params::from_pairs([
            ("bucket", "b"),
            ("regionendpoint", "minio:9000"),
        ]))
        .unwrap();
        assert_eq!(c.region, DEFAULT_ENDPOINT_REGION);
        assert_eq!(c.region_endpoint.as_deref(), Some("https://minio:9000"));
        let e = config(&[("region", "Not A Region".into())]).unwrap_err();
        assert_eq!(key_of(&e), "region");
    }

    #[test]
    fn bucket_is_required() {
        let e = Config::from_params(Params::from_pairs([("region", "us-east-1")])).unwrap_err();
        assert_eq!(key_of(&e), "bucket");
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn sizes_are_range_checked() {
        for (key, value) in [
            ("chunksize", Value::from(5242879)),
            ("chunksize", Value::from("6GiB")),
            ("multipartcopychunksize", Value::from("1MiB")),
            ("multipartcopymaxconcurrency", Value::from(0)),
            ("multipartcopythresholdsize", Value::from("6GiB")),
        ] {
            let e = config(&[(key, value.clone())]).unwrap_err();
            assert_eq!(key_of(&e), key, "{value:?}");
            assert!(e.to_string().contains("between"), "{e}");
        }
        let e = config(&[("chunksize", "big".into())]).unwrap_err();
        assert_eq!(key_of(&e), "chunksize");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("storageclass", Value::from("GLACIER")),
            ("objectacl", Value::from("everyone")),
            ("loglevel", Value::from("loud")),
            ("forcepathstyle", Value::from("maybe")),
            ("skipverify", Value::from(true)),
            ("v4auth", Value::from(false)),
            ("redirectendpoint", Value::from("cdn.example.com")),
            (
                "redirectendpoint",
                Value::from("https://cdn.example.com/base"),
            ),
            (
                "redirectendpoint",
                Value::from("https://cdn.example.com?x=1"),
            ),
            ("regionendpoint", Value::from("ftp://example.com")),
            ("useragent", Value::from("bad\nagent")),
        ] {
            let e = config(&[(key, value.clone())]).unwrap_err();
            assert_eq!(key_of(&e), key, "{value:?}: {e}");
        }
    }

    #[test]
    fn half_given_credentials_are_refused_without_showing_them() {
        let e = config(&[("accesskey", "AKIDSECRETLOOKING".into())]).unwrap_err();
        assert_eq!(key_of(&e), "secretkey");
        let e = config(&[("secretkey", "hunter2".into())]).unwrap_err();
        assert_eq!(key_of(&e), "accesskey");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = config(&[("sessiontoken", "tok".into())]).unwrap_err();
        assert_eq!(key_of(&e), "sessiontoken");
        // Empty strings mean "not given", as in the reference.
        let c = config(&[("accesskey", "".into()), ("secretkey", "".into())]).unwrap();
        assert_eq!(c.credentials, None);
    }

    #[test]
    fn plain_http_needs_an_endpoint() {
        let e = config(&[("secure", false.into())]).unwrap_err();
        assert_eq!(key_of(&e), "secure");
        let c = config(&[
            ("secure", false.into()),
            ("regionendpoint", "minio:9000".into()),
        ])
        .unwrap();
        assert_eq!(c.region_endpoint.as_deref(), Some("http://minio:9000"));
    }

    #[test]
    fn loglevel_false_is_off() {
        let c = config(&[("loglevel", false.into())]).unwrap();
        assert!(!c.log_requests);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = config(&[("bukket", "x".into())]).unwrap_err();
        assert_eq!(key_of(&e), "bukket");
        assert!(e.to_string().contains("accepted"), "{e}");
    }
}
