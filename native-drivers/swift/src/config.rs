//! The driver's parameters, with the reference swift driver's names and defaults so that an
//! existing registry `config.yml` `storage: swift:` section works unchanged. Every value is
//! checked here, so a bad configuration fails when the driver is created, naming the key.

use reqwest::Url;
use std::time::Duration;

use wharf_runtime::backoff::Backoff;
use wharf_runtime::network::Network;
use wharf_runtime::{Error, Params, Result, Secret, Value};

/// The identity service (tempauth or Keystone) URL.
pub const AUTH_URL: &str = "authurl";
/// The user name (`account:user` for tempauth).
pub const USERNAME: &str = "username";
/// The user's password (tempauth key).
pub const PASSWORD: &str = "password";
/// The container everything is stored in (created if missing).
pub const CONTAINER: &str = "container";
/// The region whose object-store endpoint is used (Keystone).
pub const REGION: &str = "region";
/// The project (tenant) name (Keystone).
pub const TENANT: &str = "tenant";
/// The project (tenant) ID (Keystone).
pub const TENANT_ID: &str = "tenantid";
/// The user's domain name (Keystone v3).
pub const DOMAIN: &str = "domain";
/// The user's domain ID (Keystone v3).
pub const DOMAIN_ID: &str = "domainid";
/// The project's domain name (Keystone v3; defaults to the user's).
pub const TENANT_DOMAIN: &str = "tenantdomain";
/// The project's domain ID (Keystone v3; defaults to the user's).
pub const TENANT_DOMAIN_ID: &str = "tenantdomainid";
/// A trust to scope the token to (Keystone v3).
pub const TRUST_ID: &str = "trustid";
/// 1 (tempauth/swauth), 2 or 3 (Keystone); guessed from `authurl` when absent.
pub const AUTH_VERSION: &str = "authversion";
/// Which endpoint of the catalog to use: `public`, `internal` or `admin`.
pub const ENDPOINT_TYPE: &str = "endpointtype";
/// Accept any TLS certificate.
pub const INSECURE_SKIP_VERIFY: &str = "insecureskipverify";
/// The size of a segment of a large object.
pub const CHUNK_SIZE: &str = "chunksize";
/// The prefix of every object name (before `/files` and `/segments`).
pub const PREFIX: &str = "prefix";
/// The TempURL key.
pub const SECRET_KEY: &str = "secretkey";
/// The access key of HP Cloud-style TempURL signatures (`tenantid:accesskey:signature`).
pub const ACCESS_KEY: &str = "accesskey";
/// Keep the TempURL key on the container rather than on the account (used when the cluster
/// does not publish `/info`).
pub const TEMPURL_CONTAINER_KEY: &str = "tempurlcontainerkey";
/// The methods TempURLs may be made for (used when the cluster does not publish `/info`).
pub const TEMPURL_METHODS: &str = "tempurlmethods";

/// `chunksize` when none is given: 20 MiB, as the reference.
pub const DEFAULT_CHUNK_SIZE: u64 = 20 << 20;
/// The smallest `chunksize` accepted: 1 MiB, as the reference.
pub const MIN_CHUNK_SIZE: u64 = 1 << 20;

/// The identity API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVersion {
    /// tempauth / swauth: `X-Auth-User` and `X-Auth-Key` headers.
    V1,
    /// Keystone v2.0: `POST {authurl}/tokens`.
    V2,
    /// Keystone v3: `POST {authurl}/auth/tokens`.
    V3,
}

impl AuthVersion {
    /// The version an auth URL implies, as the reference's client guesses it: `v3` anywhere in
    /// it means 3, `v2` means 2, anything else 1.
    pub fn guess(url: &str) -> Self {
        if url.contains("v3") {
            AuthVersion::V3
        } else if url.contains("v2") {
            AuthVersion::V2
        } else {
            AuthVersion::V1
        }
    }
}

/// Which catalog endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointType {
    /// The public endpoint (`public` or `publicURL`; the default).
    Public,
    /// The endpoint for the cloud's internal network (`internal` or `internalURL`).
    Internal,
    /// The administrators' endpoint (`admin` or `adminURL`).
    Admin,
}

impl EndpointType {
    /// The v3 `interface` name.
    pub fn interface(self) -> &'static str {
        match self {
            EndpointType::Public => "public",
            EndpointType::Internal => "internal",
            EndpointType::Admin => "admin",
        }
    }

    /// The v2 endpoint field (`publicURL`, …).
    pub fn v2_field(self) -> &'static str {
        match self {
            EndpointType::Public => "publicURL",
            EndpointType::Internal => "internalURL",
            EndpointType::Admin => "adminURL",
        }
    }
}

/// What a swift driver is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `authurl`: the identity service (tempauth or Keystone), an `http://` or `https://` URL.
    pub auth_url: Url,
    /// `username`: the user to authenticate as (`account:user` for tempauth).
    pub username: String,
    /// `password`: the user's password (tempauth key); never empty.
    pub password: Secret,
    /// `container`: the container everything is stored in, created if missing (no `/`, at
    /// most 256 bytes).
    pub container: String,
    /// `region`: the region whose object-store endpoint is taken from the catalog (Keystone).
    pub region: Option<String>,
    /// `tenant`: the project (tenant) name to scope the token to (Keystone).
    pub tenant: Option<String>,
    /// `tenantid`: the project (tenant) ID to scope the token to (Keystone).
    pub tenant_id: Option<String>,
    /// `domain`: the user's domain name (Keystone v3).
    pub domain: Option<String>,
    /// `domainid`: the user's domain ID (Keystone v3).
    pub domain_id: Option<String>,
    /// `tenantdomain`: the project's domain name (Keystone v3; the user's when absent).
    pub tenant_domain: Option<String>,
    /// `tenantdomainid`: the project's domain ID (Keystone v3; the user's when absent).
    pub tenant_domain_id: Option<String>,
    /// `trustid`: a trust to scope the token to (Keystone v3).
    pub trust_id: Option<String>,
    /// `authversion`: the identity API spoken, guessed from `authurl` when absent or 0.
    pub auth_version: AuthVersion,
    /// `endpointtype`: which catalog endpoint is used (public when absent).
    pub endpoint_type: EndpointType,
    /// `insecureskipverify`: accept any TLS certificate.
    pub insecure_skip_verify: bool,
    /// `chunksize`: the size of a segment of a large object, at least [`MIN_CHUNK_SIZE`]
    /// ([`DEFAULT_CHUNK_SIZE`] when absent).
    pub chunk_size: u64,
    /// `prefix`: the prefix of every object name, exactly as given; names are built from it as
    /// the reference builds them (`<prefix>/files<path>`, `<prefix>/segments/…`).
    pub prefix: String,
    /// `secretkey`: the TempURL key, if given (else the driver sets up its own).
    pub secret_key: Option<Secret>,
    /// `accesskey`: the access key of HP Cloud-style TempURL signatures, if given.
    pub access_key: Option<Secret>,
    /// `tempurlcontainerkey`: keep the TempURL key on the container rather than on the
    /// account (used when the cluster does not publish `/info`).
    pub tempurl_container_key: bool,
    /// `tempurlmethods`: the methods TempURLs may be made for (used when the cluster does not
    /// publish `/info`); empty when absent.
    pub tempurl_methods: Vec<String>,
    /// `max_retries`, `retry_delay`, `max_retry_delay`, `connect_timeout`, `read_timeout`
    /// (by default four retries from 200 ms, 60 s to connect, 15 minutes between reads: the
    /// reference's time-outs).
    pub network: Network,
}

fn optional(params: &mut Params, key: &str) -> Result<Option<String>> {
    Ok(params
        .string(key)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

impl Config {
    /// Reads and checks the parameters; unknown keys are rejected.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let auth_url_text = params.required_string(AUTH_URL)?;
        let auth_url = Url::parse(auth_url_text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::invalid_parameter(
                    AUTH_URL,
                    format!("expected an http:// or https:// URL, got {auth_url_text:?}"),
                )
            })?;
        let username = params.required_string(USERNAME)?;
        let password = match params.secret(PASSWORD)? {
            Some(p) if !p.expose().is_empty() => p,
            _ => {
                return Err(Error::invalid_parameter(
                    PASSWORD,
                    "missing required parameter (expected a non-empty string)",
                ));
            }
        };
        let container = params.required_string(CONTAINER)?;
        if container.contains('/') || container.len() > 256 {
            return Err(Error::invalid_parameter(
                CONTAINER,
                format!(
                    "expected a container name without `/`, at most 256 bytes, got {container:?}"
                ),
            ));
        }
        let auth_version = match params.u64(AUTH_VERSION)? {
            None | Some(0) => AuthVersion::guess(auth_url.as_str()),
            Some(1) => AuthVersion::V1,
            Some(2) => AuthVersion::V2,
            Some(3) => AuthVersion::V3,
            Some(other) => {
                return Err(Error::invalid_parameter(
                    AUTH_VERSION,
                    format!("expected 1, 2 or 3 (or nothing, to guess from authurl), got {other}"),
                ));
            }
        };
        let endpoint_type = match optional(&mut params, ENDPOINT_TYPE)?
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("public") | Some("publicurl") => EndpointType::Public,
            Some("internal") | Some("internalurl") => EndpointType::Internal,
            Some("admin") | Some("adminurl") => EndpointType::Admin,
            Some(other) => {
                return Err(Error::invalid_parameter(
                    ENDPOINT_TYPE,
                    format!("expected public, internal or admin, got {other:?}"),
                ));
            }
        };
        let chunk_size = params.size(CHUNK_SIZE)?.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size < MIN_CHUNK_SIZE {
            return Err(Error::invalid_parameter(
                CHUNK_SIZE,
                format!("expected at least {MIN_CHUNK_SIZE} bytes (1 MiB), got {chunk_size}"),
            ));
        }
        let tempurl_methods = tempurl_methods(&mut params)?;
        let config = Self {
            auth_url,
            username,
            password,
            container,
            region: optional(&mut params, REGION)?,
            tenant: optional(&mut params, TENANT)?,
            tenant_id: optional(&mut params, TENANT_ID)?,
            domain: optional(&mut params, DOMAIN)?,
            domain_id: optional(&mut params, DOMAIN_ID)?,
            tenant_domain: optional(&mut params, TENANT_DOMAIN)?,
            tenant_domain_id: optional(&mut params, TENANT_DOMAIN_ID)?,
            trust_id: optional(&mut params, TRUST_ID)?,
            auth_version,
            endpoint_type,
            insecure_skip_verify: params.bool(INSECURE_SKIP_VERIFY)?.unwrap_or(false),
            chunk_size,
            prefix: params.string(PREFIX)?.unwrap_or_default(),
            secret_key: params
                .secret(SECRET_KEY)?
                .filter(|s| !s.expose().is_empty()),
            access_key: params
                .secret(ACCESS_KEY)?
                .filter(|s| !s.expose().is_empty()),
            tempurl_container_key: params.bool(TEMPURL_CONTAINER_KEY)?.unwrap_or(false),
            tempurl_methods,
            network: Network::from_params(
                &mut params,
                Network {
                    max_retries: 4,
                    backoff: Backoff::starting_at(Duration::from_millis(200)),
                    connect_timeout: Duration::from_secs(60),
                    read_timeout: Duration::from_secs(15 * 60),
                },
            )?,
        };
        params.finish()?;
        Ok(config)
    }
}

/// `tempurlmethods`: a list of method names, or one string of them separated by commas or
/// spaces.
fn tempurl_methods(params: &mut Params) -> Result<Vec<String>> {
    let value = params.get(TEMPURL_METHODS).cloned();
    params.mark_taken(TEMPURL_METHODS);
    let bad = || {
        Error::invalid_parameter(
            TEMPURL_METHODS,
            "expected a list of HTTP methods (e.g. [GET, HEAD]) or a string like \"GET,HEAD\"",
        )
    };
    let names: Vec<String> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s
            .split([',', ' '])
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::List(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(bad()),
    };
    names
        .into_iter()
        .map(|m| {
            let m = m.trim().to_ascii_uppercase();
            if matches!(m.as_str(), "GET" | "HEAD" | "PUT" | "POST" | "DELETE") {
                Ok(m)
            } else {
                Err(Error::invalid_parameter(
                    TEMPURL_METHODS,
                    format!("expected GET, HEAD, PUT, POST or DELETE, got {m:?}"),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use wharf_runtime::ErrorKind;

    use super::*;

    fn base() -> Params {
        Params::from_pairs([
            (AUTH_URL, "http://127.0.0.1:8080/auth/v1.0"),
            (USERNAME, "test:tester"),
            (PASSWORD, "testing"),
            (CONTAINER, "registry"),
        ])
    }

    fn with(key: &str, value: impl Into<Value>) -> Result<Config> {
        let mut p = base();
        p.insert(key, value);
        Config::from_params(p)
    }

    fn bad_key(r: Result<Config>) -> String {
        match r.unwrap_err().kind() {
            ErrorKind::InvalidParameter { key } => key.clone(),
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = Config::from_params(base()).unwrap();
        assert_eq!(c.chunk_size, 20 << 20);
        assert_eq!(c.auth_version, AuthVersion::V1);
        assert_eq!(c.endpoint_type, EndpointType::Public);
        assert!(!c.insecure_skip_verify);
        assert_eq!(c.prefix, "");
        assert!(c.tempurl_methods.is_empty());
    }

    #[test]
    fn auth_version_is_guessed_or_checked() {
        assert_eq!(
            with(AUTH_URL, "https://keystone/v3").unwrap().auth_version,
            AuthVersion::V3
        );
        assert_eq!(
            with(AUTH_URL, "https://keystone/v2.0")
                .unwrap()
                .auth_version,
            AuthVersion::V2
        );
        assert_eq!(
            with(AUTH_VERSION, "2").unwrap().auth_version,
            AuthVersion::V2
        );
        assert_eq!(with(AUTH_VERSION, 0).unwrap().auth_version, AuthVersion::V1);
        assert_eq!(bad_key(with(AUTH_VERSION, 4)), AUTH_VERSION);
        assert_eq!(bad_key(with(AUTH_VERSION, "three")), AUTH_VERSION);
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(bad_key(with(CHUNK_SIZE, "512KiB")), CHUNK_SIZE);
        assert_eq!(with(CHUNK_SIZE, "1MiB").unwrap().chunk_size, 1 << 20);
        assert_eq!(bad_key(with(ENDPOINT_TYPE, "private")), ENDPOINT_TYPE);
        assert_eq!(
            with(ENDPOINT_TYPE, "Internal").unwrap().endpoint_type,
            EndpointType::Internal
        );
        assert_eq!(
            bad_key(with(INSECURE_SKIP_VERIFY, "maybe")),
            INSECURE_SKIP_VERIFY
        );
        assert_eq!(bad_key(with(AUTH_URL, "ftp://x/")), AUTH_URL);
        assert_eq!(bad_key(with(CONTAINER, "a/b")), CONTAINER);
        assert_eq!(bad_key(with(TEMPURL_METHODS, "GET,FETCH")), TEMPURL_METHODS);
        assert_eq!(bad_key(with("bucket", "x")), "bucket");
        for missing in [AUTH_URL, USERNAME, PASSWORD, CONTAINER] {
            let mut p = base();
            p.insert(missing, "");
            assert_eq!(bad_key(Config::from_params(p)), missing);
        }
    }

    #[test]
    fn numeric_tenants_and_method_lists_are_accepted() {
        let c = with(TENANT_ID, 12345).unwrap();
        assert_eq!(c.tenant_id.as_deref(), Some("12345"));
        let c = with(TEMPURL_METHODS, "get, head").unwrap();
        assert_eq!(c.tempurl_methods, ["GET", "HEAD"]);
        let c = with(
            TEMPURL_METHODS,
            Value::List(vec!["GET".into(), "PUT".into()]),
        )
        .unwrap();
        assert_eq!(c.tempurl_methods, ["GET", "PUT"]);
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let mut p = base();
        p.insert(SECRET_KEY, "tempurl-key-value");
        p.insert(ACCESS_KEY, "access-key-value");
        p.insert(PASSWORD, "password-value");
        let c = Config::from_params(p).unwrap();
        let debug = format!("{c:?}");
        for secret in ["tempurl-key-value", "access-key-value", "password-value"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let mut p = base();
        p.insert(PASSWORD, Value::List(vec!["password-value".into()]));
        let e = Config::from_params(p).unwrap_err().to_string();
        assert!(!e.contains("password-value"), "{e}");
    }
}
