//! The driver's parameters, read the way the reference azure driver reads them so that an existing
//! registry `config.yml` `storage: azure:` section works unchanged: `accountname`, `accountkey`,
//! `container`, `credentials` (a map with `type` and, for `client_secret`, `clientid`, `tenantid`
//! and `secret`), `realm`, `serviceurl`, `rootdirectory`, `max_retries`, `retry_delay` and
//! `skipverify`. Every value is checked here, so a bad configuration fails when the driver is
//! created, naming the key, and never on the first request.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use wharf_runtime::backoff::Backoff;
use wharf_runtime::network::Network;
use wharf_runtime::{Error, Params, Result, Secret};

/// The storage account's name.
pub const ACCOUNT_NAME: &str = "accountname";
/// The storage account's shared key (base64).
pub const ACCOUNT_KEY: &str = "accountkey";
/// The container everything is stored in.
pub const CONTAINER: &str = "container";
/// How the driver authenticates: a map with `type` and the fields that type needs.
pub const CREDENTIALS: &str = "credentials";
/// The domain suffix of the service endpoint.
pub const REALM: &str = "realm";
/// The service endpoint, overriding the one built from `accountname` and `realm`.
pub const SERVICE_URL: &str = "serviceurl";
/// The prefix of every blob name.
pub const ROOT_DIRECTORY: &str = "rootdirectory";
/// How often a failed idempotent request is retried, and the first delay between retries
/// (doubling with each retry; also the base of copy polling): the runtime's network parameters,
/// which also give `max_retry_delay`, `connect_timeout` and `read_timeout`.
pub use wharf_runtime::network::{MAX_RETRIES, RETRY_DELAY};
/// Accept any TLS certificate from the endpoint.
pub const SKIP_VERIFY: &str = "skipverify";

/// `realm` when none is given.
pub const DEFAULT_REALM: &str = "core.windows.net";
/// `max_retries` when none is given.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// `retry_delay` when none is given.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// How requests are authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Shared Key: every request signed with the account key (`credentials.type: shared_key`,
    /// or no `credentials` at all next to an `accountkey`).
    SharedKey {
        /// The decoded account key.
        key: Secret,
    },
    /// An Entra ID application's client secret (`credentials.type: client_secret`).
    ClientSecret {
        /// The directory (tenant) the application is registered in.
        tenant_id: String,
        /// The application (client) ID.
        client_id: String,
        /// The application's secret.
        secret: Secret,
    },
    /// The environment's identity (`credentials.type: default_credentials`): environment
    /// variables, workload identity or managed identity, in that order.
    Default,
}

impl Credentials {
    /// The `credentials.type` value naming this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            Credentials::SharedKey { .. } => "shared_key",
            Credentials::ClientSecret { .. } => "client_secret",
            Credentials::Default => "default_credentials",
        }
    }
}

/// What an azure driver is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `accountname`: the storage account's name.
    pub account_name: String,
    /// `container`: the container holding the storage; it must exist.
    pub container: String,
    /// `accountkey` or `credentials`: how requests are authorised.
    pub credentials: Credentials,
    /// `serviceurl` (else `https://<accountname>.blob.<realm>`): the account's blob endpoint,
    /// without a trailing `/` (e.g. `https://acct.blob.core.windows.net`, or
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub service_url: Url,
    /// `rootdirectory`: the blob name prefix, without leading or trailing `/` (empty for none).
    pub root_directory: String,
    /// `max_retries`, `retry_delay` (also the base of copy polling), `max_retry_delay`,
    /// `connect_timeout`, `read_timeout`.
    pub network: Network,
    /// `skipverify`: accept any TLS certificate.
    pub skip_verify: bool,
}

impl Config {
    /// Reads every parameter, then rejects any other key.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let account_name = params.required_string(ACCOUNT_NAME)?;
        check_account_name(&account_name)?;
        let container = params.required_string(CONTAINER)?;
        check_container(&container)?;
        let account_key = params.secret(ACCOUNT_KEY)?;
        let credentials = credentials(&mut params, account_key)?;
        let realm = params
            .string(REALM)?
            .unwrap_or_else(|| DEFAULT_REALM.to_owned());
        let service_url = match params.string(SERVICE_URL)? {
            Some(url) if !url.trim().is_empty() => parse_service_url(url.trim())?,
            _ => default_service_url(&account_name, &realm)?,
        };
        if !matches!(credentials, Credentials::SharedKey { .. }) && service_url.scheme() != "https"
        {
            return Err(Error::invalid_parameter(
                SERVICE_URL,
                format!(
                    "{} credentials send bearer tokens, which Azure accepts only over https; \
                     got {}",
                    credentials.type_name(),
                    service_url
                ),
            ));
        }
        let root_directory = params
            .string(ROOT_DIRECTORY)?
            .unwrap_or_default()
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
        let network = Network::from_params(
            &mut params,
            Network {
                max_retries: DEFAULT_MAX_RETRIES,
                backoff: Backoff::starting_at(DEFAULT_RETRY_DELAY),
                ..Network::default()
            },
        )?;
        let skip_verify = params.bool(SKIP_VERIFY)?.unwrap_or(false);
        params.finish()?;
        Ok(Self {
            account_name,
            container,
            credentials,
            service_url,
            root_directory,
            network,
            skip_verify,
        })
    }
}

/// Account names are 3 to 24 lowercase letters and digits; anything else would also change the
/// endpoint's host name.
fn check_account_name(name: &str) -> Result<()> {
    let ok = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_parameter(
            ACCOUNT_NAME,
            format!("expected 3 to 24 lowercase letters and digits, got {name:?}"),
        ))
    }
}

/// Container names are 3 to 63 lowercase letters, digits and single hyphens, starting and ending
/// with a letter or digit (or the special `$root`).
fn check_container(name: &str) -> Result<()> {
    let ok = name == "$root"
        || ((3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--"));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_parameter(
            CONTAINER,
            format!(
                "expected a container name (3 to 63 lowercase letters, digits and single \
                 hyphens, starting and ending with a letter or digit), got {name:?}"
            ),
        ))
    }
}

fn credentials(params: &mut Params, account_key: Option<Secret>) -> Result<Credentials> {
    let Some(mut map) = params.map(CREDENTIALS)? else {
        // Configurations written for older registries give only the account key.
        return match account_key {
            Some(key) => shared_key(key),
            None => Err(Error::invalid_parameter(
                CREDENTIALS,
                "missing: give `accountkey` for shared-key access, or a `credentials` map with \
                 `type: shared_key`, `client_secret` or `default_credentials`",
            )),
        };
    };
    let key = |field: &str| format!("{CREDENTIALS}.{field}");
    let kind = map
        .string("type")
        .map_err(|_| Error::invalid_parameter(key("type"), "expected a string"))?
        .unwrap_or_default();
    let credentials = match kind.as_str() {
        "shared_key" => match account_key {
            Some(k) => shared_key(k)?,
            None => {
                return Err(Error::invalid_parameter(
                    ACCOUNT_KEY,
                    "missing: credentials of type shared_key need the account key",
                ));
            }
        },
        "client_secret" => {
            let mut required = |field: &str| -> Result<String> {
                match map.string(field) {
                    Ok(Some(v)) if !v.trim().is_empty() => Ok(v),
                    Ok(_) => Err(Error::invalid_parameter(
                        key(field),
                        "missing: credentials of type client_secret need it",
                    )),
                    Err(_) => Err(Error::invalid_parameter(key(field), "expected a string")),
                }
            };
            let tenant_id = required("tenantid")?;
            let client_id = required("clientid")?;
            let secret = match map.secret("secret") {
                Ok(Some(s)) if !s.expose().is_empty() => s,
                Ok(_) => {
                    return Err(Error::invalid_parameter(
                        key("secret"),
                        "missing: credentials of type client_secret need it",
                    ));
                }
                Err(_) => {
                    return Err(Error::invalid_parameter(
                        key("secret"),
                        "expected a string, got <redacted>",
                    ));
                }
            };
            if !tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(Error::invalid_parameter(
                    key("tenantid"),
                    format!("expected a tenant ID or domain, got {tenant_id:?}"),
                ));
            }
            Credentials::ClientSecret {
                tenant_id,
                client_id,
                secret,
            }
        }
        "default_credentials" => Credentials::Default,
        other => {
            return Err(Error::invalid_parameter(
                key("type"),
                format!("expected shared_key, client_secret or default_credentials, got {other:?}"),
            ));
        }
    };
    // The reference ignores fields a type does not use; so do we, but an unknown field is a
    // typo worth reporting.
    for field in ["clientid", "tenantid", "secret"] {
        map.mark_taken(field);
    }
    map.finish().map_err(|e| match e.kind() {
        wharf_runtime::ErrorKind::InvalidParameter { key: field } => Error::invalid_parameter(
            key(field),
            "unknown field (accepted: type, clientid, tenantid, secret)",
        ),
        _ => e,
    })?;
    Ok(credentials)
}

fn shared_key(key: Secret) -> Result<Credentials> {
    // Checked now so a mistyped key fails at start-up, without ever showing it.
    match STANDARD.decode(key.expose().trim()) {
        Ok(bytes) if !bytes.is_empty() => Ok(Credentials::SharedKey {
            key: Secret::new(key.expose().trim()),
        }),
        _ => Err(Error::invalid_parameter(
            ACCOUNT_KEY,
            "expected the storage account key (base64), got <redacted>",
        )),
    }
}

fn parse_service_url(text: &str) -> Result<Url> {
    let bad = |why: &str| {
        Error::invalid_parameter(
            SERVICE_URL,
            format!("expected an http or https URL of the blob endpoint ({why}), got {text:?}"),
        )
    };
    let url = Url::parse(text).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("no query, fragment or user information allowed"));
    }
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

fn default_service_url(account: &str, realm: &str) -> Result<Url> {
    let realm = realm.trim().trim_matches('.');
    let valid = !realm.is_empty()
        && realm
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !valid {
        return Err(Error::invalid_parameter(
            REALM,
            format!("expected a domain suffix such as core.windows.net, got {realm:?}"),
        ));
    }
    parse_service_url(&format!("https://{account}.blob.{realm}")).map_err(|_| {
        Error::invalid_parameter(REALM, format!("cannot build an endpoint from {realm:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_runtime::{ErrorKind, Value};

    const KEY: &str = "a2V5LWZvci10ZXN0cy1vbmx5";

    fn config(pairs: &[(&str, Value)]) -> Result<Config> {
        Config::from_params(Params::from_pairs(pairs.iter().cloned()))
    }

    fn base() -> Vec<(&'static str, Value)> {
        vec![
            ("accountname", "acct1".into()),
            ("accountkey", KEY.into()),
            ("container", "registry".into()),
        ]
    }

    fn with(extra: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
        let mut v = base();
        v.extend(extra.iter().cloned());
        v
    }

    fn key_of(e: &Error) -> String {
        match e.kind() {
            ErrorKind::InvalidParameter { key } => key.clone(),
            other => panic!("expected InvalidParameter, got {other:?}: {e}"),
        }
    }

    fn creds(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
        )
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = config(&base()).unwrap();
        assert_eq!(
            c.service_url.as_str(),
            "https://acct1.blob.core.windows.net/"
        );
        assert_eq!(c.network.max_retries, 5);
        assert_eq!(c.network.backoff.first, Duration::from_millis(100));
        assert!(!c.skip_verify);
        assert_eq!(c.root_directory, "");
        assert_eq!(c.credentials.type_name(), "shared_key");
    }

    #[test]
    fn values_are_taken_as_given() {
        let c = config(&with(&[
            ("realm", "core.chinacloudapi.cn".into()),
            ("rootdirectory", "/a/b/".into()),
            ("max_retries", "7".into()),
            ("retry_delay", "250ms".into()),
            ("skipverify", "true".into()),
            ("credentials", creds(&[("type", "shared_key")])),
        ]))
        .unwrap();
        assert_eq!(
            c.service_url.as_str(),
            "https://acct1.blob.core.chinacloudapi.cn/"
        );
        assert_eq!(c.root_directory, "a/b");
        assert_eq!(c.network.max_retries, 7);
        assert_eq!(c.network.backoff.first, Duration::from_millis(250));
        assert!(c.skip_verify);
        let c = config(&with(&[
            (
                "serviceurl",
                "http://127.0.0.1:10000/devstoreaccount1/".into(),
            ),
            ("max_retries", Value::Int(-1)),
        ]))
        .unwrap();
        assert_eq!(
            c.service_url.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert_eq!(c.network.max_retries, 0);
    }

    #[test]
    fn required_keys_are_named() {
        for missing in ["accountname", "container"] {
            let pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != missing).collect();
            let e = config(&pairs).unwrap_err();
            assert_eq!(key_of(&e), missing);
        }
        let pairs: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "accountkey")
            .collect();
        assert_eq!(key_of(&config(&pairs).unwrap_err()), "credentials");
        let mut pairs = pairs;
        pairs.push(("credentials", creds(&[("type", "shared_key")])));
        assert_eq!(key_of(&config(&pairs).unwrap_err()), "accountkey");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("accountname", Value::from("Bad_Name")),
            ("container", Value::from("Upper")),
            ("container", Value::from("a--b")),
            ("realm", Value::from("bad realm")),
            ("serviceurl", Value::from("ftp://host/x")),
            ("serviceurl", Value::from("http://host/x?sig=1")),
            ("rootdirectory", Value::from("a//b")),
            ("max_retries", Value::from("many")),
            ("max_retries", Value::from(-2)),
            ("retry_delay", Value::from("soon")),
            ("skipverify", Value::from("maybe")),
            ("accountkey", Value::from("not base64!")),
        ] {
            let e = config(&with(&[(key, value.clone())])).unwrap_err();
            assert_eq!(key_of(&e), key, "{key} = {value:?}");
            assert!(e.to_string().contains("expected"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = config(&with(&[("acountkey", "x".into())])).unwrap_err();
        assert_eq!(key_of(&e), "acountkey");
        assert!(e.to_string().contains("accepted"), "{e}");
        let e = config(&with(&[(
            "credentials",
            creds(&[("type", "shared_key"), ("tennantid", "x")]),
        )]))
        .unwrap_err();
        assert_eq!(key_of(&e), "credentials.tennantid");
    }

    #[test]
    fn token_credentials() {
        let https = ("serviceurl", Value::from("https://example.invalid/acct"));
        let c = config(&with(&[
            https.clone(),
            (
                "credentials",
                creds(&[
                    ("type", "client_secret"),
                    ("clientid", "app"),
                    ("tenantid", "tenant-1"),
                    ("secret", "s3cr3t"),
                ]),
            ),
        ]))
        .unwrap();
        match &c.credentials {
            Credentials::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                assert_eq!(
                    (tenant_id.as_str(), client_id.as_str()),
                    ("tenant-1", "app")
                );
                assert_eq!(secret.expose(), "s3cr3t");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{c:?}").contains("s3cr3t"));
        for missing in ["clientid", "tenantid", "secret"] {
            let mut fields = vec![
                ("type", "client_secret"),
                ("clientid", "app"),
                ("tenantid", "t"),
                ("secret", "s"),
            ];
            fields.retain(|(k, _)| *k != missing);
            let e = config(&with(&[https.clone(), ("credentials", creds(&fields))])).unwrap_err();
            assert_eq!(key_of(&e), format!("credentials.{missing}"));
        }
        let c = config(&with(&[
            https.clone(),
            ("credentials", creds(&[("type", "default_credentials")])),
        ]))
        .unwrap();
        assert_eq!(c.credentials, Credentials::Default);
        let e = config(&with(&[("credentials", creds(&[("type", "default")]))])).unwrap_err();
        assert_eq!(key_of(&e), "credentials.type");
    }

    #[test]
    fn bearer_tokens_need_https() {
        for kind in ["default_credentials", "client_secret"] {
            let e = config(&with(&[
                (
                    "serviceurl",
                    "http://127.0.0.1:10000/devstoreaccount1".into(),
                ),
                (
                    "credentials",
                    creds(&[
                        ("type", kind),
                        ("clientid", "a"),
                        ("tenantid", "t"),
                        ("secret", "s"),
                    ]),
                ),
            ]))
            .unwrap_err();
            assert_eq!(key_of(&e), "serviceurl", "{kind}");
            assert!(e.to_string().contains("https"), "{e}");
        }
    }

    #[test]
    fn secrets_never_shown() {
        let c = config(&base()).unwrap();
        assert!(!format!("{c:?}").contains(KEY));
        let e = config(&with(&[(
            "credentials",
            creds(&[
                ("type", "client_secret"),
                ("clientid", "a"),
                ("tenantid", "t"),
            ]),
        )]))
        .unwrap_err();
        assert!(!e.to_string().contains(KEY));
    }
}
