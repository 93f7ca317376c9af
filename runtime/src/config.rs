//! Configuration files. A registry `config.yml` `storage:` section loads as it is (one driver key plus the
//! registry's reserved keys `maintenance`, `cache`, `delete`, `redirect`, `tag`), with the
//! registry's environment overrides: `REGISTRY_STORAGE=<driver>` picks the driver and
//! `REGISTRY_STORAGE_<DRIVER>_<KEY>=<value>` sets a parameter (`_` descends into nested maps
//! that exist, e.g. `REGISTRY_STORAGE_AZURE_CREDENTIALS_TYPE`).
//!
//! Wharf's own `wharf.toml` adds guest drivers:
//!
//! ```toml
//! [drivers.myblobs]
//! component = "myblobs.wasm"            # relative to the file
//! params = { bucket = "b" }             # defaults of the driver's parameters
//! sandbox = { memory = "128MiB", timeout = "10s", dirs = ["/srv/blobs:/data"], http = ["s3.example.com"] }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::params::{KeyedOnce, Params, Value};

/// Keys of the `storage:` section that configure the registry, not the driver.
pub const RESERVED_KEYS: [&str; 5] = ["maintenance", "cache", "delete", "redirect", "tag"];

const ENV_PREFIX: &str = "REGISTRY_STORAGE";

/// The storage section of a registry configuration.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The driver name (the one non-reserved key).
    pub driver: String,
    /// The driver's parameters.
    pub params: Params,
    /// The registry's reserved keys, kept for whoever needs them (e.g. `redirect.disable`).
    pub reserved: BTreeMap<String, Value>,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::invalid_parameter("storage", message)
}

impl StorageConfig {
    /// Reads `path` (a registry config.yml) and applies the process environment's overrides.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read {}", path.display())).with_source(e))?;
        let mut config = Self::from_yaml(&text)?;
        config.apply_env(std::env::vars())?;
        Ok(config)
    }

    /// Parses a whole registry config (with a top-level `storage:`) or a bare storage section.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let doc: serde_yaml::Value = serde_yaml::from_str(text)
            .map_err(|e| config_error("the configuration is not valid YAML").with_source(e))?;
        let section = match doc.get("storage") {
            Some(s) => s.clone(),
            None => doc,
        };
        let Value::Map(map) = Value::from_yaml_at(&section, "storage")? else {
            return Err(config_error(
                "expected `storage:` to be a map with one driver key",
            ));
        };
        Self::from_section(map)
    }

    fn from_section(map: BTreeMap<String, Value>) -> Result<Self> {
        let mut reserved = BTreeMap::new();
        let mut drivers = Vec::new();
        for (key, value) in map {
            if RESERVED_KEYS.contains(&key.as_str()) {
                reserved.insert(key, value);
            } else {
                drivers.push((key, value));
            }
        }
        match drivers.len() {
            1 => {
                let (driver, value) = drivers.remove(0);
                let params = Params::from_value(value).map_err(|_| {
                    config_error(format!(
                        "expected the parameters of driver {driver:?} to be a map"
                    ))
                })?;
                Ok(Self {
                    driver,
                    params,
                    reserved,
                })
            }
            0 => Err(config_error(
                "no storage driver configured (expected one key besides maintenance, cache, delete, redirect, tag)",
            )),
            _ => Err(config_error(format!(
                "more than one storage driver configured: {}",
                drivers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Applies `REGISTRY_STORAGE…` overrides from `(name, value)` pairs. Values are read as YAML
    /// scalars, as the registry does (`true` is a bool, `10` a number).
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        // The driver choice first, so parameter overrides land on the chosen driver.
        vars.sort_by_key(|(k, _)| k.len());
        for (name, raw) in vars {
            let value = parse_env_value(&raw);
            if name == ENV_PREFIX {
                let driver = raw.trim().to_ascii_lowercase();
                if driver != self.driver {
                    // Choosing another driver drops the file's parameters for the old one.
                    self.driver = driver;
                    self.params = Params::new();
                }
                continue;
            }
            let Some(rest) = name.strip_prefix("REGISTRY_STORAGE_") else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let driver_prefix = format!("{}_", self.driver.to_ascii_lowercase());
            if let Some(key) = rest.strip_prefix(&driver_prefix) {
                let mut map = match std::mem::take(&mut self.params).into_value() {
                    Value::Map(m) => m,
                    _ => BTreeMap::new(),
                };
                set_nested(&mut map, key, value);
                self.params = Params::from_pairs(map);
            } else if let Some(reserved) = RESERVED_KEYS
                .iter()
                .find(|r| rest.starts_with(&format!("{r}_")))
            {
                let key = &rest[reserved.len() + 1..];
                let entry = self
                    .reserved
                    .entry((*reserved).to_owned())
                    .or_insert_with(|| Value::Map(BTreeMap::new()));
                if let Value::Map(m) = entry {
                    set_nested(m, key, value);
                }
            }
        }
        Ok(())
    }
}

/// One guest driver of a `wharf.toml`.
#[derive(Debug, Clone)]
pub struct GuestConfig {
    /// The component file (resolved against the configuration file's directory).
    pub component: PathBuf,
    /// Default parameters of the driver.
    pub params: Params,
    /// The sandbox policy as written (see `wasm::SandboxPolicy::from_params`).
    pub sandbox: Params,
}

/// Wharf's own configuration file.
#[derive(Debug, Clone, Default)]
pub struct WharfConfig {
    /// Guest drivers by the name they register under.
    pub drivers: BTreeMap<String, GuestConfig>,
}

/// `v` (at path `at`) as parameters: keys lowercased, two that differ only in case refused.
fn toml_value(v: &toml::Value, at: &str) -> Result<Value> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| toml_value(item, &format!("{at}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        toml::Value::Table(t) => {
            let mut map = KeyedOnce::new(at);
            for (k, v) in t {
                let value = toml_value(v, &map.path_of(k))?;
                map.insert(k.clone(), value)?;
            }
            map.done()
        }
    })
}

impl WharfConfig {
    /// Reads a `wharf.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid_parameter("config", format!("cannot read {}", path.display()))
                .with_source(e)
        })?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses a `wharf.toml`; relative component paths are resolved against `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| {
            Error::invalid_parameter("config", format!("not valid TOML: {}", e.message()))
        })?;
        let mut config = WharfConfig::default();
        for (key, value) in doc {
            if key != "drivers" {
                return Err(Error::invalid_parameter(
                    key,
                    "unknown section (expected [drivers.<name>])",
                ));
            }
            let toml::Value::Table(drivers) = value else {
                return Err(Error::invalid_parameter(
                    "drivers",
                    "expected a table of drivers",
                ));
            };
            for (name, spec) in drivers {
                let Value::Map(map) = toml_value(&spec, &format!("drivers.{name}"))? else {
                    return Err(Error::invalid_parameter(
                        format!("drivers.{name}"),
                        "expected a table with `component`, `params`, `sandbox`",
                    ));
                };
                let mut p = Params::from_pairs(map);
                let component = base.join(p.required_string("component").map_err(|_| {
                    Error::invalid_parameter(
                        format!("drivers.{name}.component"),
                        "missing (expected the path of a .wasm component)",
                    )
                })?);
                let params = p.map("params")?.unwrap_or_default();
                let sandbox = p.map("sandbox")?.unwrap_or_default();
                p.finish()?;
                config.drivers.insert(
                    name,
                    GuestConfig {
                        component,
                        params,
                        sandbox,
                    },
                );
            }
        }
        Ok(config)
    }
}

/// Sets `key` in `map`, descending into an existing nested map when `key` starts with its name
/// followed by `_`; otherwise `key` is taken whole.
fn set_nested(map: &mut BTreeMap<String, Value>, key: &str, value: Value) {
    for (name, existing) in map.iter_mut() {
        if let (Some(rest), Value::Map(inner)) = (
            key.strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix('_')),
            &mut *existing,
        ) {
            set_nested(inner, rest, value);
            return;
        }
    }
    map.insert(key.to_owned(), value);
}

fn parse_env_value(raw: &str) -> Value {
    match serde_yaml::from_str::<serde_yaml::Value>(raw) {
        Ok(v @ (serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_))) => {
            Value::from_yaml(&v).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        _ => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /var/lib/registry
    maxthreads: 100
  delete:
    enabled: true
  redirect:
    disable: false
  cache:
    blobdescriptor: inmemory
http:
  addr: :5000
"#;

    #[test]
    fn registry_config_as_it_is() {
        let mut c = StorageConfig::from_yaml(CONFIG).unwrap();
        assert_eq!(c.driver, "filesystem");
        assert_eq!(
            c.params.string("rootdirectory").unwrap().as_deref(),
            Some("/var/lib/registry")
        );
        assert_eq!(c.params.u64("maxthreads").unwrap(), Some(100));
        assert!(c.params.finish().is_ok());
        assert!(c.reserved.contains_key("delete"));
        assert!(c.reserved.contains_key("cache"));
    }

    #[test]
    fn driver_without_parameters() {
        let c = StorageConfig::from_yaml("storage:\n  inmemory:\n").unwrap();
        assert_eq!(c.driver, "inmemory");
        assert_eq!(c.params.keys().count(), 0);
    }

    #[test]
    fn two_drivers_are_refused_by_name() {
        let e =
            StorageConfig::from_yaml("storage:\n  inmemory:\n  s3:\n    bucket: b\n").unwrap_err();
        assert!(e.to_string().contains("inmemory, s3"), "{e}");
        let e = StorageConfig::from_yaml("storage:\n  delete:\n    enabled: true\n").unwrap_err();
        assert!(e.to_string().contains("no storage driver"), "{e}");
    }

    #[test]
    fn keys_given_twice_in_different_cases_are_refused() {
        let key_of = |e: &Error| match e.kind() {
            crate::ErrorKind::InvalidParameter { key } => key.clone(),
            other => panic!("{other:?}"),
        };
        let e = StorageConfig::from_yaml(
            "storage:\n  s3:\n    bucket: a\n    region: r\n    Bucket: b\n",
        )
        .unwrap_err();
        assert_eq!(key_of(&e), "storage.s3.bucket");
        assert!(
            e.to_string()
                .contains(r#"as "bucket" and "Bucket" (keys are read in lower case)"#),
            "{e}"
        );
        let e = StorageConfig::from_yaml("storage:\n  S3: {}\n  s3: {}\n").unwrap_err();
        assert_eq!(key_of(&e), "storage.s3");
        let e =
            StorageConfig::from_yaml("storage:\n  azure:\n    credentials: {Type: a, type: b}\n")
                .unwrap_err();
        assert_eq!(key_of(&e), "storage.azure.credentials.type");
        let e = StorageConfig::from_yaml("s3:\n  list: [{a: 1, A: 2}]\n").unwrap_err();
        assert_eq!(key_of(&e), "storage.s3.list[0].a");
        // One spelling, in any case, is read.
        let c = StorageConfig::from_yaml("storage:\n  S3:\n    BUCKET: b\n").unwrap();
        assert_eq!(c.params.get("bucket"), Some(&Value::String("b".into())));

        let e = WharfConfig::from_toml(
            "[drivers.x]\ncomponent = \"a.wasm\"\nparams = { Root = \"/a\", root = \"/b\" }\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(key_of(&e), "drivers.x.params.root");
        assert!(e.to_string().contains(r#"as "Root" and "root""#), "{e}");
    }

    #[test]
    fn env_overrides() {
        let mut c = StorageConfig::from_yaml(
            "storage:\n  azure:\n    accountname: a\n    credentials:\n      type: shared_key\n",
        )
        .unwrap();
        c.apply_env([
            (
                "REGISTRY_STORAGE_AZURE_ACCOUNTNAME".to_owned(),
                "b".to_owned(),
            ),
            (
                "REGISTRY_STORAGE_AZURE_CREDENTIALS_TYPE".to_owned(),
                "client_secret".to_owned(),
            ),
            (
                "REGISTRY_STORAGE_AZURE_MAX_RETRIES".to_owned(),
                "7".to_owned(),
            ),
            (
                "REGISTRY_STORAGE_DELETE_ENABLED".to_owned(),
                "true".to_owned(),
            ),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ])
        .unwrap();
        assert_eq!(
            c.params.string("accountname").unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(c.params.u64("max_retries").unwrap(), Some(7));
        let mut creds = c.params.map("credentials").unwrap().unwrap();
        assert_eq!(
            creds.string("type").unwrap().as_deref(),
            Some("client_secret")
        );
        assert_eq!(
            c.reserved.get("delete"),
            Some(&Value::Map(BTreeMap::from([(
                "enabled".to_owned(),
                Value::Bool(true)
            )])))
        );
    }

    #[test]
    fn wharf_toml() {
        let c = WharfConfig::from_toml(
            r#"
[drivers.myblobs]
component = "myblobs.wasm"
params = { bucket = "b", chunksize = 10 }
sandbox = { memory = "128MiB", dirs = ["/srv:/data:ro"] }
"#,
            Path::new("/etc/wharf"),
        )
        .unwrap();
        let d = &c.drivers["myblobs"];
        assert_eq!(d.component, Path::new("/etc/wharf/myblobs.wasm"));
        assert_eq!(d.params.get("chunksize"), Some(&Value::Int(10)));
        assert!(d.sandbox.contains("dirs"));
        let e = WharfConfig::from_toml("[drivers.x]\nparams = {}\n", Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("drivers.x.component"), "{e}");
        let e = WharfConfig::from_toml("[driverz.x]\n", Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("driverz"), "{e}");
        let e = WharfConfig::from_toml(
            "[drivers.x]\ncomponent = \"a.wasm\"\nsandbx = {}\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("sandbx"), "{e}");
    }

    #[test]
    fn env_selects_another_driver() {
        let mut c = StorageConfig::from_yaml(CONFIG).unwrap();
        c.apply_env([
            ("REGISTRY_STORAGE".to_owned(), "inmemory".to_owned()),
            (
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY".to_owned(),
                "/x".to_owned(),
            ),
        ])
        .unwrap();
        assert_eq!(c.driver, "inmemory");
        assert_eq!(c.params.keys().count(), 0);
    }
}
