//! The reference registry's `config.yml`, for what `wharf serve` serves: `storage` (any Wharf
//! driver, with `delete`, `redirect` and `maintenance.uploadpurging`), `http.addr`,
//! `http.headers`, `http.tls.certificate`/`key`, `http.draintimeout`, `auth.htpasswd`,
//! `catalog.maxentries`, `log.level` and `log.formatter`, with the `REGISTRY_*` environment
//! overrides.
//!
//! Every key is checked: an unknown key, a key of the reference's that this server does not
//! implement (so would silently not do what it says), or a value of the wrong type fails at
//! start naming the key. Keys that change nothing about what is served (`log.fields`,
//! `storage.cache`, `health`, `http.secret`…) are accepted.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_yaml::Value as Yaml;
use wharf_runtime::config::StorageConfig;
use wharf_runtime::params::Value;

use crate::storage::Options;

/// Upload purging (`storage.maintenance.uploadpurging`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purging {
    /// Purge at all.
    pub enabled: bool,
    /// Uploads older than this go.
    pub age: Duration,
    /// How often to look.
    pub interval: Duration,
    /// Only log what would go.
    pub dry_run: bool,
}

impl Default for Purging {
    fn default() -> Self {
        // The reference registry's defaults.
        Purging {
            enabled: true,
            age: Duration::from_secs(168 * 3600),
            interval: Duration::from_secs(24 * 3600),
            dry_run: false,
        }
    }
}

/// TLS files (`http.tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate chain (PEM).
    pub certificate: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

/// `auth.htpasswd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtpasswdConfig {
    /// The realm named in challenges.
    pub realm: String,
    /// The htpasswd file.
    pub path: PathBuf,
}

/// A registry configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The storage driver and its parameters.
    pub storage: StorageConfig,
    /// Storage options from `storage.delete`, `storage.redirect` and `catalog`.
    pub options: Options,
    /// Upload purging.
    pub purging: Purging,
    /// `http.addr`.
    pub addr: String,
    /// `http.tls`.
    pub tls: Option<Tls>,
    /// `http.headers`: added to every answer.
    pub headers: HeaderMap,
    /// `http.draintimeout`: how long a shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// `auth.htpasswd`.
    pub htpasswd: Option<HtpasswdConfig>,
    /// `log.level`.
    pub log_level: String,
    /// `log.formatter`: `text` (the default) or `json` (one JSON object per line).
    pub log_json: bool,
}

/// Why a configuration was refused.
#[derive(Debug, Clone)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// What this server does with a key.
#[derive(Clone, Copy)]
enum Key {
    /// Read here (a scalar, or a section whose keys follow).
    Used,
    /// Accepted: it changes nothing about what is served.
    Accepted,
    /// The reference's, not implemented here.
    NotServed,
}

/// Known keys of the sections, by dotted path. A section's keys not listed are unknown.
const KEYS: &[(&str, Key)] = &[
    ("version", Key::Used),
    ("log", Key::Used),
    ("log.level", Key::Used),
    ("log.formatter", Key::Used),
    ("log.fields", Key::Accepted),
    ("log.accesslog", Key::Accepted),
    ("log.hooks", Key::NotServed),
    ("loglevel", Key::Accepted),
    ("storage", Key::Used),
    ("http", Key::Used),
    ("http.addr", Key::Used),
    ("http.net", Key::Used),
    ("http.headers", Key::Used),
    ("http.draintimeout", Key::Used),
    ("http.secret", Key::Accepted),
    ("http.relativeurls", Key::Accepted),
    ("http.http2", Key::Accepted),
    ("http.debug", Key::Accepted),
    ("http.tls", Key::Used),
    ("http.tls.certificate", Key::Used),
    ("http.tls.key", Key::Used),
    ("http.tls.minimumtls", Key::Accepted),
    ("http.tls.clientcas", Key::NotServed),
    ("http.tls.ciphersuites", Key::NotServed),
    ("http.tls.letsencrypt", Key::NotServed),
    ("http.host", Key::NotServed),
    ("http.prefix", Key::NotServed),
    ("auth", Key::Used),
    ("auth.htpasswd", Key::Used),
    ("auth.htpasswd.realm", Key::Used),
    ("auth.htpasswd.path", Key::Used),
    ("auth.none", Key::Accepted),
    ("auth.token", Key::NotServed),
    ("auth.silly", Key::NotServed),
    ("catalog", Key::Used),
    ("catalog.maxentries", Key::Used),
    ("health", Key::Accepted),
    ("reporting", Key::Accepted),
    ("redis", Key::Accepted),
    ("notifications", Key::NotServed),
    ("middleware", Key::NotServed),
    ("proxy", Key::NotServed),
    ("validation", Key::NotServed),
    ("compatibility", Key::NotServed),
    ("policy", Key::NotServed),
];

/// Keys of the `storage:` section the registry reads (the driver's own are the driver's).
const STORAGE_KEYS: &[(&str, Key)] = &[
    ("delete", Key::Used),
    ("delete.enabled", Key::Used),
    ("redirect", Key::Used),
    ("redirect.disable", Key::Used),
    ("maintenance", Key::Used),
    ("maintenance.uploadpurging", Key::Used),
    ("maintenance.uploadpurging.enabled", Key::Used),
    ("maintenance.uploadpurging.age", Key::Used),
    ("maintenance.uploadpurging.interval", Key::Used),
    ("maintenance.uploadpurging.dryrun", Key::Used),
    ("maintenance.readonly", Key::NotServed),
    ("cache", Key::Accepted),
    ("tag", Key::Accepted),
];

fn lookup(table: &[(&str, Key)], path: &str) -> Option<Key> {
    table.iter().find(|(k, _)| *k == path).map(|(_, v)| *v)
}

/// Checks every key of `map` (at `prefix`) against `table`.
fn check_keys(
    table: &[(&str, Key)],
    shown: &str,
    prefix: &str,
    value: &Yaml,
) -> Result<(), ConfigError> {
    let Yaml::Mapping(map) = value else {
        return Ok(());
    };
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(err(format!("{shown}{prefix}: a key is not a string")));
        };
        let path = format!("{prefix}{}{key}", if prefix.is_empty() { "" } else { "." });
        match lookup(table, &path) {
            None => {
                return Err(err(format!(
                    "unknown configuration key {shown}{path}{}",
                    if prefix.is_empty() {
                        String::new()
                    } else {
                        let known: Vec<&str> = table
                            .iter()
                            .filter_map(|(k, _)| k.strip_prefix(&format!("{prefix}.")))
                            .filter(|k| !k.contains('.'))
                            .collect();
                        format!(" (known under {shown}{prefix}: {})", known.join(", "))
                    }
                )));
            }
            Some(Key::NotServed) => {
                return Err(err(format!(
                    "{shown}{path} is a key of the reference registry that wharf serve does not implement; remove it"
                )));
            }
            Some(Key::Accepted) => {}
            Some(Key::Used) => {
                // Free keys (headers) and the storage section (its driver's keys are the
                // driver's; the registry's are checked with STORAGE_KEYS) are not descended into.
                if path != "http.headers" && path != "storage" {
                    check_keys(table, shown, &path, value)?;
                }
            }
        }
    }
    Ok(())
}

fn get<'a>(doc: &'a Yaml, path: &str) -> Option<&'a Yaml> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

fn string(doc: &Yaml, path: &str) -> Result<Option<String>, ConfigError> {
    match get(doc, path) {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s.clone())),
        Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(err(format!("{path} must be a string"))),
    }
}

fn duration(value: &str, path: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| {
        err(format!(
            "{path}: {value:?} is not a duration like 10s or 168h ({e})"
        ))
    })
}

fn param_bool(value: Option<&Value>, path: &str) -> Result<Option<bool>, ConfigError> {
    match value {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(_) => Err(err(format!("storage.{path} must be true or false"))),
    }
}

fn param_duration(value: Option<&Value>, path: &str) -> Result<Option<Duration>, ConfigError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => duration(s, &format!("storage.{path}")).map(Some),
        Some(_) => Err(err(format!("storage.{path} must be a duration like 24h"))),
    }
}

fn section<'a>(
    value: Option<&'a Value>,
    path: &str,
) -> Result<Option<&'a std::collections::BTreeMap<String, Value>>, ConfigError> {
    match value {
        None => Ok(None),
        Some(Value::Map(m)) => Ok(Some(m)),
        Some(_) => Err(err(format!("storage.{path} must be a map"))),
    }
}

/// The key structure of a parameter value, for [`check_keys`].
fn keys_of(value: &Value) -> Yaml {
    match value {
        Value::Map(map) => Yaml::Mapping(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), keys_of(v)))
                .collect(),
        ),
        _ => Yaml::Null,
    }
}

/// Applies `REGISTRY_*` overrides (other than `REGISTRY_STORAGE…`, which the storage section
/// takes itself) to the document: `_` separates keys, a key matches case-insensitively or is
/// made in lowercase, the value is read as YAML.
fn apply_env(doc: &mut Yaml, vars: &[(String, String)]) {
    let mut vars: Vec<&(String, String)> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("REGISTRY_") && !k.starts_with("REGISTRY_STORAGE"))
        .filter(|(k, _)| k != "REGISTRY_CONFIGURATION_PATH")
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let keys: Vec<String> = name["REGISTRY_".len()..]
            .split('_')
            .map(str::to_ascii_lowercase)
            .collect();
        if lookup(KEYS, &keys[0]).is_none() {
            tracing::warn!(variable = %name, "ignoring an environment variable that names no configuration key");
            continue;
        }
        let value: Yaml = serde_yaml::from_str(raw).unwrap_or(Yaml::String(raw.clone()));
        let mut at = &mut *doc;
        for (i, key) in keys.iter().enumerate() {
            if !matches!(at, Yaml::Mapping(_)) {
                *at = Yaml::Mapping(Default::default());
            }
            let Yaml::Mapping(map) = at else {
                unreachable!()
            };
            let existing = map
                .keys()
                .find(|k| k.as_str().is_some_and(|s| s.eq_ignore_ascii_case(key)))
                .cloned()
                .unwrap_or_else(|| Yaml::String(key.clone()));
            if i + 1 == keys.len() {
                map.insert(existing, value.clone());
                break;
            }
            at = map.entry(existing).or_insert(Yaml::Null);
        }
    }
}

impl Config {
    /// Reads a configuration file, with the process environment's overrides.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, &std::env::vars().collect::<Vec<_>>())
            .map_err(|e| err(format!("{}: {e}", path.display())))
    }

    /// Parses a configuration with the overrides `vars`.
    pub fn parse(text: &str, vars: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut doc: Yaml =
            serde_yaml::from_str(text).map_err(|e| err(format!("not valid YAML: {e}")))?;
        if !matches!(doc, Yaml::Mapping(_)) {
            return Err(err("the configuration must be a map of sections"));
        }
        apply_env(&mut doc, vars);
        check_keys(KEYS, "", "", &doc)?;
        match string(&doc, "version")?.as_deref() {
            Some("0.1") | None => {}
            Some(v) => return Err(err(format!("version: {v:?} is not 0.1"))),
        }
        let storage_text = serde_yaml::to_string(
            get(&doc, "storage").ok_or_else(|| err("storage: no storage section"))?,
        )
        .map_err(|e| err(format!("storage: {e}")))?;
        let mut storage =
            StorageConfig::from_yaml(&storage_text).map_err(|e| err(format!("storage: {e}")))?;
        storage
            .apply_env(vars.iter().cloned())
            .map_err(|e| err(format!("storage: {e}")))?;
        let reserved = Yaml::Mapping(
            storage
                .reserved
                .iter()
                .map(|(k, v)| (Yaml::String(k.clone()), keys_of(v)))
                .collect(),
        );
        check_keys(STORAGE_KEYS, "storage.", "", &reserved)?;

        let mut options = Options::default();
        if let Some(delete) = section(storage.reserved.get("delete"), "delete")? {
            options.delete_enabled =
                param_bool(delete.get("enabled"), "delete.enabled")?.unwrap_or(false);
        }
        if let Some(redirect) = section(storage.reserved.get("redirect"), "redirect")? {
            options.redirect =
                !param_bool(redirect.get("disable"), "redirect.disable")?.unwrap_or(false);
        }
        if let Some(n) = get(&doc, "catalog.maxentries") {
            options.catalog_max_entries = n
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| err("catalog.maxentries must be a positive number"))?
                as usize;
        }
        let mut purging = Purging::default();
        let maintenance = section(storage.reserved.get("maintenance"), "maintenance")?;
        if let Some(p) = maintenance
            .map(|m| section(m.get("uploadpurging"), "maintenance.uploadpurging"))
            .transpose()?
            .flatten()
        {
            let at = "maintenance.uploadpurging";
            if let Some(b) = param_bool(p.get("enabled"), &format!("{at}.enabled"))? {
                purging.enabled = b;
            }
            if let Some(d) = param_duration(p.get("age"), &format!("{at}.age"))? {
                purging.age = d;
            }
            if let Some(d) = param_duration(p.get("interval"), &format!("{at}.interval"))? {
                purging.interval = d;
            }
            if let Some(b) = param_bool(p.get("dryrun"), &format!("{at}.dryrun"))? {
                purging.dry_run = b;
            }
            if purging.interval.is_zero() {
                return Err(err(format!("storage.{at}.interval must not be 0")));
            }
        }

        if let Some(net) = string(&doc, "http.net")?
            && net != "tcp"
        {
            return Err(err(format!("http.net: {net:?} is not served (tcp is)")));
        }
        let addr = string(&doc, "http.addr")?.unwrap_or_else(|| ":5000".to_owned());
        let tls = match (
            string(&doc, "http.tls.certificate")?,
            string(&doc, "http.tls.key")?,
        ) {
            (None, None) => None,
            (Some(certificate), Some(key)) => Some(Tls {
                certificate: certificate.into(),
                key: key.into(),
            }),
            (Some(_), None) => return Err(err("http.tls.certificate is set without http.tls.key")),
            (None, Some(_)) => return Err(err("http.tls.key is set without http.tls.certificate")),
        };
        let mut headers = HeaderMap::new();
        if let Some(Yaml::Mapping(map)) = get(&doc, "http.headers") {
            for (name, values) in map {
                let name = name.as_str().unwrap_or("");
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| err(format!("http.headers: {name:?} is not a header name")))?;
                let values: Vec<&Yaml> = match values {
                    Yaml::Sequence(s) => s.iter().collect(),
                    other => vec![other],
                };
                for value in values {
                    let text = value.as_str().ok_or_else(|| {
                        err(format!("http.headers.{name}: values must be strings"))
                    })?;
                    let value = HeaderValue::from_str(text).map_err(|_| {
                        err(format!(
                            "http.headers.{name}: {text:?} is not a header value"
                        ))
                    })?;
                    headers.append(header.clone(), value);
                }
            }
        } else if get(&doc, "http.headers").is_some_and(|h| !h.is_null()) {
            return Err(err(
                "http.headers must be a map of header names to lists of values",
            ));
        }
        let drain_timeout = match string(&doc, "http.draintimeout")? {
            Some(d) => duration(&d, "http.draintimeout")?,
            None => Duration::from_secs(30),
        };
        let htpasswd = match get(&doc, "auth.htpasswd") {
            None => None,
            Some(_) => Some(HtpasswdConfig {
                realm: string(&doc, "auth.htpasswd.realm")?
                    .ok_or_else(|| err("auth.htpasswd.realm is missing"))?,
                path: string(&doc, "auth.htpasswd.path")?
                    .ok_or_else(|| err("auth.htpasswd.path is missing"))?
                    .into(),
            }),
        };
        let log_level = string(&doc, "log.level")?
            .or(string(&doc, "loglevel")?)
            .unwrap_or_else(|| "info".to_owned())
            .to_ascii_lowercase();
        if !["error", "warn", "info", "debug"].contains(&log_level.as_str()) {
            return Err(err(format!(
                "log.level: {log_level:?} is not error, warn, info or debug"
            )));
        }
        let log_json = match string(&doc, "log.formatter")?.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(err(format!(
                    "log.formatter: {other:?} is not text or json (logstash is not served)"
                )));
            }
        };
        Ok(Config {
            log_json,
            storage,
            options,
            purging,
            addr,
            tls,
            headers,
            drain_timeout,
            htpasswd,
            log_level,
        })
    }

    /// `http.addr` as a socket address (`:5000` listens on every interface, as Go's does).
    pub fn socket_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        let addr = if self.addr.starts_with(':') {
            format!("0.0.0.0{}", self.addr)
        } else {
            self.addr.clone()
        };
        use std::net::ToSocketAddrs;
        addr.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| err(format!("http.addr: {:?} is not HOST:PORT", self.addr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
";

    #[test]
    fn the_reference_images_default_configuration_loads() {
        let c = Config::parse(DEFAULT, &[]).unwrap();
        assert_eq!(c.storage.driver, "filesystem");
        assert_eq!(c.addr, ":5000");
        assert_eq!(c.socket_addr().unwrap().port(), 5000);
        assert_eq!(c.headers["x-content-type-options"], "nosniff");
        assert!(!c.options.delete_enabled);
        assert!(c.options.redirect);
        assert_eq!(c.purging, Purging::default());
        assert_eq!(c.log_level, "info");
        assert!(c.tls.is_none() && c.htpasswd.is_none());
    }

    #[test]
    fn every_used_key_is_read() {
        let text = "
storage:
  inmemory: {}
  delete: {enabled: true}
  redirect: {disable: true}
  maintenance:
    uploadpurging: {enabled: true, age: 2h, interval: 10m, dryrun: true}
http:
  addr: 127.0.0.1:5001
  draintimeout: 5s
  tls: {certificate: /c.pem, key: /k.pem}
auth:
  htpasswd: {realm: r, path: /h}
catalog: {maxentries: 7}
log: {level: DEBUG, formatter: json}
";
        let c = Config::parse(text, &[]).unwrap();
        assert!(c.options.delete_enabled && !c.options.redirect);
        assert_eq!(c.options.catalog_max_entries, 7);
        assert_eq!(
            c.purging,
            Purging {
                enabled: true,
                age: Duration::from_secs(7200),
                interval: Duration::from_secs(600),
                dry_run: true
            }
        );
        assert_eq!(c.drain_timeout, Duration::from_secs(5));
        assert_eq!(c.tls.unwrap().key, PathBuf::from("/k.pem"));
        assert_eq!(c.htpasswd.unwrap().realm, "r");
        assert_eq!(c.log_level, "debug");
        assert!(c.log_json);
    }

    #[test]
    fn environment_overrides_apply() {
        let vars: Vec<(String, String)> = [
            ("REGISTRY_HTTP_ADDR", "127.0.0.1:6000"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/srv"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "env"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/etc/h"),
            ("REGISTRY_LOG_LEVEL", "warn"),
            ("REGISTRY_SOMETHING_ELSE", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = Config::parse(DEFAULT, &vars).unwrap();
        assert_eq!(c.addr, "127.0.0.1:6000");
        assert!(c.options.delete_enabled);
        assert_eq!(
            c.storage.params.get("rootdirectory"),
            Some(&Value::String("/srv".into()))
        );
        assert_eq!(c.htpasswd.unwrap().path, PathBuf::from("/etc/h"));
        assert_eq!(c.log_level, "warn");
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let cases = [
            (
                "storage: {inmemory: {}}\nhttp: {adr: x}",
                "unknown configuration key http.adr",
            ),
            (
                "storage: {inmemory: {}}\nhttp: {tls: {cert: x}}",
                "http.tls.cert",
            ),
            (
                "storage: {inmemory: {}}\nbogus: 1",
                "unknown configuration key bogus",
            ),
            (
                "storage: {inmemory: {}}\nnotifications: {}",
                "notifications is a key of the reference",
            ),
            (
                "storage: {inmemory: {}, delete: {enable: true}}",
                "storage.delete.enable",
            ),
            (
                "storage: {inmemory: {}, delete: {enabled: yes please}}",
                "storage.delete.enabled must be true or false",
            ),
            (
                "storage: {inmemory: {}, maintenance: {uploadpurging: {age: soon}}}",
                "storage.maintenance.uploadpurging.age",
            ),
            (
                "storage: {inmemory: {}, maintenance: {readonly: {enabled: true}}}",
                "maintenance.readonly is a key of the reference",
            ),
            (
                "storage: {inmemory: {}}\nhttp: {tls: {certificate: /c}}",
                "without http.tls.key",
            ),
            (
                "storage: {inmemory: {}}\nhttp: {addr: [1]}",
                "http.addr must be a string",
            ),
            ("storage: {inmemory: {}}\nlog: {level: loud}", "log.level"),
            (
                "storage: {inmemory: {}}\nlog: {formatter: logstash}",
                "log.formatter",
            ),
            ("storage: {inmemory: {}}\nversion: 0.2", "version"),
            (
                "storage: {inmemory: {}}\ncatalog: {maxentries: -1}",
                "catalog.maxentries",
            ),
            (
                "storage: {inmemory: {}}\nauth: {htpasswd: {realm: r}}",
                "auth.htpasswd.path is missing",
            ),
            ("http: {addr: ':1'}", "storage"),
            ("storage: {inmemory: {}, s3: {}}", "storage"),
        ];
        for (text, want) in cases {
            let e = Config::parse(text, &[]).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
