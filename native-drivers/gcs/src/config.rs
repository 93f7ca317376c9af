//! The driver's parameters, read the way the reference gcs driver reads them so that an existing
//! registry `config.yml` `storage: gcs:` section works unchanged: `bucket`, `keyfile`,
//! `credentials`, `rootdirectory`, `chunksize`, `maxconcurrency` and `useragent`; plus
//! `endpoint` (another JSON API endpoint, such as an emulator) and `anonymous` (send no
//! credentials). Every value is checked here, and credential files are read here, so a bad
//! configuration fails when the driver is created, naming the key, and never on the first request.

use std::path::PathBuf;

use reqwest::Url;
use serde::Deserialize;
use wharf_runtime::network::Network;
use wharf_runtime::{Error, ErrorKind, Params, Result, Secret};

use crate::sign::RsaKey;

/// The bucket everything is stored in.
pub const BUCKET: &str = "bucket";
/// The path of a service-account key file (JSON).
pub const KEYFILE: &str = "keyfile";
/// A service-account key (or authorized-user credentials) given inline, field by field.
pub const CREDENTIALS: &str = "credentials";
/// The prefix of every object name.
pub const ROOT_DIRECTORY: &str = "rootdirectory";
/// The size of the chunks of a resumable upload.
pub const CHUNK_SIZE: &str = "chunksize";
/// How many calls may run at once.
pub const MAX_CONCURRENCY: &str = "maxconcurrency";
/// The `User-Agent` of every request.
pub const USER_AGENT: &str = "useragent";
/// The JSON API endpoint (Wharf's addition: an emulator, or a private endpoint).
pub const ENDPOINT: &str = "endpoint";
/// Send no credentials at all (Wharf's addition: emulators and public buckets).
pub const ANONYMOUS: &str = "anonymous";

/// Chunks of a resumable upload are multiples of this (GCS's rule), and at least this big.
pub const CHUNK_QUANTUM: usize = 256 << 10;
/// `chunksize` when none is given.
pub const DEFAULT_CHUNK_SIZE: usize = 16 << 20;
/// `maxconcurrency` when none is given.
pub const DEFAULT_MAX_CONCURRENCY: usize = 50;
/// The least `maxconcurrency` (smaller values are raised to it, as the reference does).
pub const MIN_CONCURRENCY: usize = 25;
/// The largest chunk accepted (a chunk is held in memory twice while it is sent).
const MAX_CHUNK_SIZE: u64 = 1 << 30;
/// The public JSON API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A service account's key: what signs token requests and V4 signed URLs.
#[derive(Clone)]
pub struct ServiceAccount {
    /// The account's e-mail address (`client_email`).
    pub client_email: String,
    /// The key's ID (`private_key_id`), sent as the JWT's `kid`.
    pub private_key_id: Option<String>,
    /// The parsed private key.
    pub key: RsaKey,
    /// Where tokens are obtained (`token_uri`).
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("key", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

/// How requests are authorised.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A service account's key: tokens through the JWT bearer grant, and V4 signed URLs.
    ServiceAccount(ServiceAccount),
    /// A user's OAuth client and refresh token (`gcloud auth application-default login`).
    AuthorizedUser {
        /// The OAuth client's ID (the file's `client_id`).
        client_id: String,
        /// The OAuth client's secret (`client_secret`).
        client_secret: Secret,
        /// The user's refresh token (`refresh_token`).
        refresh_token: Secret,
        /// Where tokens are fetched (`token_uri`; [`DEFAULT_TOKEN_URI`] when absent).
        token_uri: String,
    },
    /// The metadata server of the machine (Compute Engine, GKE, Cloud Run, …).
    MetadataServer,
    /// No credentials at all.
    Anonymous,
}

impl Credentials {
    /// A short name of the kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::ServiceAccount(_) => "service_account",
            Credentials::AuthorizedUser { .. } => "authorized_user",
            Credentials::MetadataServer => "metadata_server",
            Credentials::Anonymous => "anonymous",
        }
    }
}

/// What a gcs driver is built from.
#[derive(Debug, Clone)]
pub struct Config {
    /// `bucket`: the bucket holding the storage; it must exist.
    pub bucket: String,
    /// `keyfile`, `credentials` or `anonymous` (else the application default credentials):
    /// how requests are authorised.
    pub credentials: Credentials,
    /// `rootdirectory`: the object name prefix, without leading or trailing `/` (empty for
    /// none).
    pub root_directory: String,
    /// `chunksize`: the chunk size of resumable uploads, a positive multiple of 256 KiB.
    pub chunk_size: usize,
    /// `maxconcurrency`: how many calls may run at once.
    pub max_concurrency: usize,
    /// `useragent`: the `User-Agent` header.
    pub user_agent: String,
    /// `endpoint` (else [`DEFAULT_ENDPOINT`]): the JSON API endpoint, without a trailing `/`.
    pub endpoint: Url,
    /// `max_retries`, `retry_delay`, `max_retry_delay`, `connect_timeout`, `read_timeout`
    /// (four retries from 250 ms by default: the reference's `maxTries` of five).
    pub network: Network,
}

impl Config {
    /// Reads every parameter, then rejects any other key.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let bucket = params.required_string(BUCKET)?;
        check_bucket(&bucket)?;
        let keyfile = params.string(KEYFILE)?.filter(|k| !k.trim().is_empty());
        let inline = params.map(CREDENTIALS)?;
        let anonymous = params.bool(ANONYMOUS)?.unwrap_or(false);
        let credentials = match (keyfile, inline, anonymous) {
            (_, _, true) => Credentials::Anonymous,
            (Some(file), _, false) => from_key_file(&file)?,
            (None, Some(map), false) => from_map(map)?,
            (None, None, false) => application_default()?,
        };
        let root_directory = params
            .string(ROOT_DIRECTORY)?
            .unwrap_or_default()
            .trim()
            .trim_matches('/')
            .to_owned();
        if !root_directory.is_empty()
            && root_directory
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(Error::invalid_parameter(
                ROOT_DIRECTORY,
                format!(
                    "expected a prefix without empty, `.` or `..` components, got \
                     {root_directory:?}"
                ),
            ));
        }
        let chunk_size = match params.size(CHUNK_SIZE)? {
            None => DEFAULT_CHUNK_SIZE,
            Some(n)
                if n >= CHUNK_QUANTUM as u64
                    && n % CHUNK_QUANTUM as u64 == 0
                    && n <= MAX_CHUNK_SIZE =>
            {
                n as usize
            }
            Some(n) => {
                return Err(Error::invalid_parameter(
                    CHUNK_SIZE,
                    format!(
                        "expected a multiple of 262144 (256 KiB), at least 262144 and at most \
                         1 GiB, got {n}"
                    ),
                ));
            }
        };
        let max_concurrency = match params.u64(MAX_CONCURRENCY)? {
            None => DEFAULT_MAX_CONCURRENCY,
            // As the reference: a smaller limit is raised to the minimum.
            Some(n) => (n.min(1 << 16) as usize).max(MIN_CONCURRENCY),
        };
        let user_agent = params
            .string(USER_AGENT)?
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| concat!("wharf-driver-gcs/", env!("CARGO_PKG_VERSION")).into());
        if reqwest::header::HeaderValue::from_str(&user_agent).is_err() {
            return Err(Error::invalid_parameter(
                USER_AGENT,
                format!("expected printable ASCII, got {user_agent:?}"),
            ));
        }
        let endpoint = match params.string(ENDPOINT)? {
            Some(url) if !url.trim().is_empty() => parse_endpoint(url.trim())?,
            _ => parse_endpoint(DEFAULT_ENDPOINT)?,
        };
        let network = Network::from_params(&mut params, Network::default())?;
        params.finish()?;
        Ok(Self {
            bucket,
            credentials,
            root_directory,
            chunk_size,
            max_concurrency,
            user_agent,
            endpoint,
            network,
        })
    }
}

/// Bucket names are 3 to 222 lowercase letters, digits, `-`, `_` and `.`; anything else would
/// also change the request URLs.
fn check_bucket(name: &str) -> Result<()> {
    let ok = (3..=222).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_parameter(
            BUCKET,
            format!(
                "expected a bucket name (3 to 222 lowercase letters, digits, `-`, `_` and `.`, \
                 starting and ending with a letter or digit), got {name:?}"
            ),
        ))
    }
}

fn parse_endpoint(text: &str) -> Result<Url> {
    let bad = |why: &str| {
        Error::invalid_parameter(
            ENDPOINT,
            format!("expected an http or https URL of the JSON API ({why}), got {text:?}"),
        )
    };
    let mut url = Url::parse(text).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("no query, fragment or user information allowed"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The fields of a credentials JSON file that the driver uses; others are ignored (Google adds
/// fields from time to time).
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// Credentials from a JSON file (`keyfile`, or application default credentials); `key` names
/// where it came from in errors.
fn from_key_file(file: &str) -> Result<Credentials> {
    let text = std::fs::read(file).map_err(|e| {
        Error::invalid_parameter(KEYFILE, format!("cannot read {file}")).with_source(e)
    })?;
    let parsed: CredentialsFile = serde_json::from_slice(&text).map_err(|_| {
        Error::invalid_parameter(
            KEYFILE,
            format!("{file} is not a JSON credentials file (a service-account key)"),
        )
    })?;
    from_fields(parsed, KEYFILE)
}

/// Credentials from the `credentials` map: the fields of a service-account key file.
fn from_map(mut map: Params) -> Result<Credentials> {
    let key = |field: &str| format!("{CREDENTIALS}.{field}");
    let mut text = |field: &str| -> Result<Option<String>> {
        map.string(field)
            .map_err(|_| Error::invalid_parameter(key(field), "expected a string"))
    };
    let parsed = CredentialsFile {
        kind: text("type")?,
        client_email: text("client_email")?,
        private_key_id: text("private_key_id")?,
        private_key: text("private_key")?,
        token_uri: text("token_uri")?,
        client_id: text("client_id")?,
        client_secret: text("client_secret")?,
        refresh_token: text("refresh_token")?,
    };
    // Other fields of a key file (project_id, auth_uri, universe_domain, …) are accepted and
    // ignored, as the reference does.
    from_fields(parsed, CREDENTIALS)
}

fn from_fields(f: CredentialsFile, origin: &str) -> Result<Credentials> {
    let field = |name: &str| {
        if origin == CREDENTIALS {
            format!("{CREDENTIALS}.{name}")
        } else {
            origin.to_owned()
        }
    };
    let missing = |name: &str, kind: &str| {
        Error::invalid_parameter(
            field(name),
            format!("missing `{name}`: {kind} credentials need it"),
        )
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    match f.kind.as_deref().unwrap_or("service_account") {
        "service_account" => {
            let client_email = nonempty(f.client_email)
                .ok_or_else(|| missing("client_email", "service_account"))?;
            let pem =
                nonempty(f.private_key).ok_or_else(|| missing("private_key", "service_account"))?;
            let key = RsaKey::from_pem(&pem).map_err(|why| {
                Error::invalid_parameter(
                    field("private_key"),
                    format!("expected an RSA private key in PEM form ({why}), got <redacted>"),
                )
            })?;
            Ok(Credentials::ServiceAccount(ServiceAccount {
                client_email,
                private_key_id: nonempty(f.private_key_id),
                key,
                token_uri: nonempty(f.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.into()),
            }))
        }
        "authorized_user" => Ok(Credentials::AuthorizedUser {
            client_id: nonempty(f.client_id)
                .ok_or_else(|| missing("client_id", "authorized_user"))?,
            client_secret: Secret::new(
                nonempty(f.client_secret)
                    .ok_or_else(|| missing("client_secret", "authorized_user"))?,
            ),
            refresh_token: Secret::new(
                nonempty(f.refresh_token)
                    .ok_or_else(|| missing("refresh_token", "authorized_user"))?,
            ),
            token_uri: nonempty(f.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.into()),
        }),
        other => Err(Error::invalid_parameter(
            field("type"),
            format!("expected service_account or authorized_user credentials, got {other:?}"),
        )),
    }
}

/// Application default credentials, found as Google's client libraries find them: the file
/// named by `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's well-known file, else the metadata
/// server.
fn application_default() -> Result<Credentials> {
    let adc = |e: Error| {
        let detail = e.to_string();
        Error::new(ErrorKind::InvalidParameter {
            key: CREDENTIALS.into(),
        })
        .with_detail(format!(
            "no keyfile or credentials given, and the application default credentials are \
             unusable: {detail}"
        ))
    };
    if let Some(file) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").filter(|f| !f.is_empty())
    {
        return from_key_file(&file.to_string_lossy()).map_err(adc);
    }
    let well_known = std::env::var_os("CLOUDSDK_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/gcloud")))
        .map(|d| d.join("application_default_credentials.json"));
    if let Some(file) = well_known.filter(|f| f.is_file()) {
        return from_key_file(&file.to_string_lossy()).map_err(adc);
    }
    Ok(Credentials::MetadataServer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_runtime::Value;

    fn config(pairs: &[(&str, Value)]) -> Result<Config> {
        Config::from_params(Params::from_pairs(pairs.iter().cloned()))
    }

    fn key_of(e: &Error) -> String {
        match e.kind() {
            ErrorKind::InvalidParameter { key } => key.clone(),
            other => panic!("expected InvalidParameter, got {other:?}: {e}"),
        }
    }

    fn anon(extra: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
        let mut v = vec![("bucket", "my-bucket".into()), ("anonymous", true.into())];
        v.extend(extra.iter().cloned());
        v
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = config(&anon(&[])).unwrap();
        assert_eq!(c.bucket, "my-bucket");
        assert_eq!(c.chunk_size, 16 << 20);
        assert_eq!(c.max_concurrency, 50);
        assert_eq!(c.root_directory, "");
        assert_eq!(c.endpoint.as_str(), "https://storage.googleapis.com/");
        assert!(c.user_agent.starts_with("wharf-driver-gcs/"));
        assert!(matches!(c.credentials, Credentials::Anonymous));
    }

    #[test]
    fn chunk_sizes_are_multiples_of_256_kib() {
        for ok in ["262144", "512KiB", "32MiB"] {
            config(&anon(&[("chunksize", ok.into())])).unwrap();
        }
        for bad in ["0", "1000", "262145", "100KiB", "lots"] {
            let e = config(&anon(&[("chunksize", bad.into())])).unwrap_err();
            assert_eq!(key_of(&e), "chunksize", "{bad}: {e}");
        }
    }

    #[test]
    fn small_concurrency_limits_are_raised_to_the_minimum() {
        let c = config(&anon(&[("maxconcurrency", "10".into())])).unwrap();
        assert_eq!(c.max_concurrency, 25);
        let c = config(&anon(&[("maxconcurrency", 200.into())])).unwrap();
        assert_eq!(c.max_concurrency, 200);
        let e = config(&anon(&[("maxconcurrency", "many".into())])).unwrap_err();
        assert_eq!(key_of(&e), "maxconcurrency");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = config(&[("anonymous", true.into())]).unwrap_err();
        assert_eq!(key_of(&e), "bucket");
        let e = config(&[("bucket", "Bad Bucket".into()), ("anonymous", true.into())]).unwrap_err();
        assert_eq!(key_of(&e), "bucket");
        let e = config(&anon(&[("endpoint", "ftp://x".into())])).unwrap_err();
        assert_eq!(key_of(&e), "endpoint");
        let e = config(&anon(&[("rootdirectory", "/a//b".into())])).unwrap_err();
        assert_eq!(key_of(&e), "rootdirectory");
        let e = config(&anon(&[("region", "eu".into())])).unwrap_err();
        assert_eq!(key_of(&e), "region");
        let e = config(&[
            ("bucket", "b12".into()),
            ("keyfile", "/nonexistent/key.json".into()),
        ])
        .unwrap_err();
        assert_eq!(key_of(&e), "keyfile");
    }

    #[test]
    fn root_directory_and_endpoint_are_normalised() {
        let c = config(&anon(&[
            ("rootdirectory", "/docker/registry/".into()),
            ("endpoint", "http://127.0.0.1:4443/".into()),
        ]))
        .unwrap();
        assert_eq!(c.root_directory, "docker/registry");
        assert_eq!(c.endpoint.as_str(), "http://127.0.0.1:4443/");
    }

    fn credentials_map(fields: &[(&str, &str)]) -> Value {
        Value::Map(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect(),
        )
    }

    #[test]
    fn inline_credentials_name_the_bad_field() {
        // A working key is checked by tests/gcs.rs with a key generated for the test run.
        let map = credentials_map(&[("type", "service_account"), ("private_key", "x")]);
        let e = config(&[("bucket", "b12".into()), ("credentials", map)]).unwrap_err();
        assert_eq!(key_of(&e), "credentials.client_email");
        let map = credentials_map(&[
            ("client_email", "sa@p"),
            (
                "private_key",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
        ]);
        let e = config(&[("bucket", "b12".into()), ("credentials", map)]).unwrap_err();
        assert_eq!(key_of(&e), "credentials.private_key");
        assert!(!e.to_string().contains("AAAA"), "{e}");
        let map = credentials_map(&[("type", "external_account")]);
        let e = config(&[("bucket", "b12".into()), ("credentials", map)]).unwrap_err();
        assert_eq!(key_of(&e), "credentials.type");
    }
}
