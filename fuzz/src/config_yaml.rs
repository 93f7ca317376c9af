//! Target `config_yaml`: a registry `config.yml` storage section (`StorageConfig::from_yaml`) and
//! the `REGISTRY_STORAGE*` environment overrides (`StorageConfig::apply_env`). Documents are
//! generated as trees (drivers, the registry's reserved keys, parameters of every YAML type,
//! nested maps, keys that differ only in case (refused), keys that are numbers) and written out as YAML,
//! or given as any text. A document is read as the model says (the one driver, its parameters
//! and the reserved keys, every key lowercase) or refused with an error naming `storage`; the
//! overrides land where the registry puts them, and applying them twice changes nothing more.

use std::collections::BTreeMap;

use bolero::TypeGenerator;
use wharf_runtime::config::{RESERVED_KEYS, StorageConfig};
use wharf_runtime::params::Value;
use wharf_runtime::{Error, ErrorKind};

use crate::params::Text;

/// A key of a map.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Name {
    /// A driver's name, in some case.
    Driver(u8),
    /// A reserved key of the registry.
    Reserved(u8),
    /// A parameter's name, in some case.
    Param(u8),
    /// A number (YAML keys need not be strings).
    Int(i8),
    /// Any text.
    Any(#[generator(bolero::produce::<String>().with().len(0usize..=12))] String),
}

const DRIVERS: [&str; 6] = ["inmemory", "s3", "S3", "filesystem", "Azure", "gcs"];
const RESERVED: [&str; 6] = [
    "maintenance",
    "cache",
    "delete",
    "redirect",
    "tag",
    "Delete",
];
const PARAMS: [&str; 8] = [
    "rootdirectory",
    "bucket",
    "credentials",
    "type",
    "accountname",
    "max_retries",
    "SecretKey",
    "Bucket",
];

/// A key as written in the document.
#[derive(Debug, Clone, PartialEq)]
pub enum RawKey {
    /// A string key.
    Text(String),
    /// A number key.
    Int(i64),
}

impl RawKey {
    /// How the configuration names the key: lowercase, numbers as written.
    pub fn lowered(&self) -> String {
        match self {
            RawKey::Text(s) => s.to_ascii_lowercase(),
            RawKey::Int(i) => i.to_string(),
        }
    }

    fn yaml(&self) -> serde_yaml::Value {
        match self {
            RawKey::Text(s) => serde_yaml::Value::String(s.clone()),
            RawKey::Int(i) => serde_yaml::Value::Number((*i).into()),
        }
    }
}

impl Name {
    /// The key.
    pub fn raw(&self) -> RawKey {
        let pick = |list: &[&str], n: u8| list[usize::from(n) % list.len()].to_owned();
        match self {
            Name::Driver(n) => RawKey::Text(pick(&DRIVERS, *n)),
            Name::Reserved(n) => RawKey::Text(pick(&RESERVED, *n)),
            Name::Param(n) => RawKey::Text(pick(&PARAMS, *n)),
            Name::Int(i) => RawKey::Int(i64::from(*i)),
            Name::Any(s) => RawKey::Text(s.clone()),
        }
    }
}

/// A scalar value.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Scalar {
    /// A parameter's text (numbers, sizes, words).
    Text(Text),
    /// An integer.
    Int(i64),
    /// A float, in quarters (never NaN, so values compare).
    Float(i32),
    /// A boolean.
    Bool(bool),
    /// `~`.
    Null,
}

impl Scalar {
    /// The configuration's value of the scalar.
    pub fn value(&self) -> Value {
        match self {
            Scalar::Text(t) => Value::String(t.render()),
            Scalar::Int(i) => Value::Int(*i),
            Scalar::Float(q) => Value::Float(f64::from(*q) / 4.0),
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Null => Value::Null,
        }
    }

    fn yaml(&self) -> serde_yaml::Value {
        match self {
            Scalar::Text(t) => serde_yaml::Value::String(t.render()),
            Scalar::Int(i) => serde_yaml::Value::Number((*i).into()),
            Scalar::Float(q) => serde_yaml::Value::Number((f64::from(*q) / 4.0).into()),
            Scalar::Bool(b) => serde_yaml::Value::Bool(*b),
            Scalar::Null => serde_yaml::Value::Null,
        }
    }
}

/// A map of scalars.
#[derive(Debug, Clone, TypeGenerator)]
pub struct ScalarMap {
    /// Its entries, in order.
    #[generator(bolero::produce::<Vec<(Name, Scalar)>>().with().len(0usize..=5))]
    pub entries: Vec<(Name, Scalar)>,
}

/// A value of the storage section: a scalar, a list, a map, a map of maps.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Node {
    /// A scalar.
    Scalar(Scalar),
    /// A list of scalars.
    List(#[generator(bolero::produce::<Vec<Scalar>>().with().len(0usize..=4))] Vec<Scalar>),
    /// A map of scalars.
    Map(ScalarMap),
    /// A map of maps of scalars.
    Deep(
        #[generator(bolero::produce::<Vec<(Name, ScalarMap)>>().with().len(0usize..=3))]
        Vec<(Name, ScalarMap)>,
    ),
}

/// A YAML map as the document holds it: a later entry with the same key replaces the earlier
/// one in its place.
fn mapping<T>(entries: impl IntoIterator<Item = (RawKey, T)>) -> Vec<(RawKey, T)> {
    let mut out: Vec<(RawKey, T)> = Vec::new();
    for (k, v) in entries {
        match out.iter_mut().find(|(seen, _)| *seen == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// The configuration's map of a YAML map: keys lowercased; two that then collide make the
/// configuration refused (`Err` with the key).
fn lowered<T>(entries: Vec<(RawKey, T)>) -> Result<BTreeMap<String, T>, String> {
    let mut map = BTreeMap::new();
    for (k, v) in entries {
        if map.insert(k.lowered(), v).is_some() {
            return Err(k.lowered());
        }
    }
    Ok(map)
}

impl Node {
    /// The configuration's value of the node (`Err`: a key given twice in different cases).
    pub fn value(&self) -> Result<Value, String> {
        Ok(match self {
            Node::Scalar(s) => s.value(),
            Node::List(items) => Value::List(items.iter().map(Scalar::value).collect()),
            Node::Map(m) => Value::Map(lowered(mapping(
                m.entries.iter().map(|(k, v)| (k.raw(), v.value())),
            ))?),
            Node::Deep(entries) => {
                // What the document holds (a later same key replaces an earlier one), then read.
                let mut outer = Vec::new();
                for (k, m) in mapping(entries.iter().map(|(k, m)| (k.raw(), m))) {
                    let inner =
                        lowered(mapping(m.entries.iter().map(|(k, v)| (k.raw(), v.value()))))?;
                    outer.push((k, Value::Map(inner)));
                }
                Value::Map(lowered(mapping(outer))?)
            }
        })
    }

    fn yaml(&self) -> serde_yaml::Value {
        let map = |entries: Vec<(RawKey, serde_yaml::Value)>| {
            serde_yaml::Value::Mapping(entries.into_iter().map(|(k, v)| (k.yaml(), v)).collect())
        };
        match self {
            Node::Scalar(s) => s.yaml(),
            Node::List(items) => {
                serde_yaml::Value::Sequence(items.iter().map(Scalar::yaml).collect())
            }
            Node::Map(m) => map(m.entries.iter().map(|(k, v)| (k.raw(), v.yaml())).collect()),
            Node::Deep(entries) => map(entries
                .iter()
                .map(|(k, m)| {
                    (
                        k.raw(),
                        map(m.entries.iter().map(|(k, v)| (k.raw(), v.yaml())).collect()),
                    )
                })
                .collect()),
        }
    }
}

/// One environment variable: `REGISTRY_STORAGE` (or not) and names joined by `_`, upper-case.
#[derive(Debug, Clone, TypeGenerator)]
pub struct EnvVar {
    /// Starts with `REGISTRY_STORAGE`.
    pub prefixed: bool,
    /// The names after it.
    #[generator(bolero::produce::<Vec<Name>>().with().len(0usize..=4))]
    pub names: Vec<Name>,
    /// The value.
    pub value: Text,
}

impl EnvVar {
    fn pair(&self) -> (String, String) {
        let mut name = if self.prefixed {
            "REGISTRY_STORAGE".to_owned()
        } else {
            String::new()
        };
        for n in &self.names {
            name.push('_');
            name.push_str(&n.raw().lowered().to_ascii_uppercase());
        }
        (name, self.value.render())
    }
}

/// A document, or any text, and the environment to apply.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Input {
    /// Read `raw` rather than the generated document.
    pub use_raw: bool,
    /// Any text.
    #[generator(bolero::produce::<String>().with().len(0usize..=64))]
    pub raw: String,
    /// Put the section under a top-level `storage:` (with the other keys beside it), or give
    /// it bare.
    pub wrapped: bool,
    /// Other top-level keys (`version`, `log`, …).
    #[generator(bolero::produce::<Vec<(Name, Scalar)>>().with().len(0usize..=3))]
    pub top: Vec<(Name, Scalar)>,
    /// The storage section.
    #[generator(bolero::produce::<Vec<(Name, Node)>>().with().len(0usize..=4))]
    pub section: Vec<(Name, Node)>,
    /// The environment.
    #[generator(bolero::produce::<Vec<EnvVar>>().with().len(0usize..=4))]
    pub env: Vec<EnvVar>,
}

/// What the model expects of a section: the driver with its parameters and the reserved keys,
/// or the drivers that make it an error.
enum Expected {
    Config {
        driver: String,
        params: Option<BTreeMap<String, Value>>,
        reserved: BTreeMap<String, Value>,
    },
    Refused(Vec<String>),
    /// Some map has two keys that differ only in case.
    KeyTwice,
}

fn expected(section: &[(Name, Node)]) -> Expected {
    let mut entries = Vec::new();
    for (k, v) in mapping(section.iter().map(|(k, v)| (k.raw(), v))) {
        match v.value() {
            Ok(v) => entries.push((k, v)),
            Err(_) => return Expected::KeyTwice,
        }
    }
    let Ok(map) = lowered(mapping(entries)) else {
        return Expected::KeyTwice;
    };
    let (reserved, drivers): (BTreeMap<_, _>, BTreeMap<_, _>) = map
        .into_iter()
        .partition(|(k, _)| RESERVED_KEYS.contains(&k.as_str()));
    if drivers.len() != 1 {
        return Expected::Refused(drivers.into_keys().collect());
    }
    let (driver, value) = drivers.into_iter().next().expect("one driver");
    let params = match value {
        Value::Map(m) => Some(m),
        Value::Null => Some(BTreeMap::new()),
        _ => None,
    };
    Expected::Config {
        driver,
        params,
        reserved,
    }
}

/// The configuration's errors name `storage`.
fn names_storage(e: &Error) {
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: "storage".into()
        },
        "{e}"
    );
}

/// A key given twice in different cases is named by its path under `storage.`, its last
/// component in lower case.
fn names_a_storage_key(e: &Error) {
    let ErrorKind::InvalidParameter { key } = e.kind() else {
        panic!("not an invalid parameter: {e}");
    };
    assert!(key.starts_with("storage."), "{e}");
    let last = key.rsplit('.').next().unwrap_or_default();
    assert_eq!(last, last.to_ascii_lowercase(), "{e}");
}

/// Checks the document (or text) and the environment on it.
pub fn check(input: &Input) {
    if input.use_raw {
        match StorageConfig::from_yaml(&input.raw) {
            Ok(config) => check_config(&config),
            Err(e) if e.to_string().contains("given twice") => names_a_storage_key(&e),
            Err(e) => names_storage(&e),
        }
        return;
    }
    let section = serde_yaml::Value::Mapping(
        mapping(input.section.iter().map(|(k, v)| (k.raw(), v)))
            .into_iter()
            .map(|(k, v)| (k.yaml(), v.yaml()))
            .collect(),
    );
    let doc = if input.wrapped {
        let mut top: serde_yaml::Mapping = input
            .top
            .iter()
            .filter(|(k, _)| k.raw() != RawKey::Text("storage".into()))
            .map(|(k, v)| (k.raw().yaml(), v.yaml()))
            .collect();
        top.insert("storage".into(), section);
        serde_yaml::Value::Mapping(top)
    } else if input
        .section
        .iter()
        .any(|(k, _)| k.raw() == RawKey::Text("storage".into()))
    {
        // A bare section with a `storage` key is read as a whole config: not this model.
        return;
    } else {
        section
    };
    let text = serde_yaml::to_string(&doc).expect("a YAML tree writes out");
    let result = StorageConfig::from_yaml(&text);
    match (result, expected(&input.section)) {
        (
            Ok(config),
            Expected::Config {
                driver,
                params: Some(params),
                reserved,
            },
        ) => {
            check_config(&config);
            assert_eq!(config.driver, driver);
            let got: BTreeMap<String, Value> = config
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect();
            assert_eq!(got, params, "the parameters of {driver}");
            assert_eq!(config.reserved, reserved);
            check_env(&config, &input.env);
        }
        (Err(e), Expected::Config { params: None, .. }) => {
            names_storage(&e);
            assert!(e.to_string().contains("to be a map"), "{e}");
        }
        (Err(e), Expected::KeyTwice) => {
            names_a_storage_key(&e);
            assert!(e.to_string().contains("given twice"), "{e}");
        }
        (Err(e), Expected::Refused(drivers)) => {
            names_storage(&e);
            for d in &drivers {
                assert!(e.to_string().contains(d.as_str()), "{e} names {d}");
            }
        }
        (got, _) => panic!("{text}\nread as {got:?}"),
    }
}

/// What holds of any configuration read.
fn check_config(config: &StorageConfig) {
    assert!(
        !RESERVED_KEYS.contains(&config.driver.as_str()),
        "{config:?}"
    );
    assert_eq!(config.driver, config.driver.to_ascii_lowercase());
    for k in config.params.keys() {
        assert_eq!(k, k.to_ascii_lowercase());
    }
}

/// The configuration as comparable text (values of every form, NaN included).
fn snapshot(config: &StorageConfig) -> String {
    let params: Vec<_> = config.params.iter().collect();
    format!("{} {params:?} {:?}", config.driver, config.reserved)
}

/// The overrides apply, land where the registry puts them, and applying them again changes
/// nothing.
fn check_env(config: &StorageConfig, env: &[EnvVar]) {
    let vars: Vec<(String, String)> = env.iter().map(EnvVar::pair).collect();
    let mut once = config.clone();
    once.apply_env(vars.clone()).expect("overrides apply");
    check_config_after_env(&once);
    let mut twice = once.clone();
    twice
        .apply_env(vars.clone())
        .expect("overrides apply again");
    assert_eq!(snapshot(&once), snapshot(&twice), "applying {vars:?} twice");

    // One override of a parameter of the driver, alone.
    let Some((name, raw)) = vars
        .iter()
        .find(|(n, _)| n.starts_with("REGISTRY_STORAGE_"))
        .cloned()
    else {
        return;
    };
    let mut one = config.clone();
    one.apply_env([(name.clone(), raw.clone())])
        .expect("an override applies");
    let rest = name["REGISTRY_STORAGE_".len()..].to_ascii_lowercase();
    let Some(key) = rest.strip_prefix(&format!("{}_", config.driver)) else {
        return;
    };
    // Keys that name an existing nested map descend into it; others are set whole.
    let descends = config
        .params
        .iter()
        .any(|(k, v)| matches!(v, Value::Map(_)) && key.starts_with(&format!("{k}_")));
    if !descends {
        let want = env_value(&raw);
        let got = one.params.get(key).map(|v| format!("{v:?}"));
        assert_eq!(got, Some(format!("{want:?}")), "{name}={raw:?}");
    }
}

/// An override's value as the registry reads it: a YAML boolean or number, else the text.
fn env_value(raw: &str) -> Value {
    match serde_yaml::from_str::<serde_yaml::Value>(raw) {
        Ok(v @ (serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_))) => {
            Value::from_yaml(&v).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        _ => Value::String(raw.to_owned()),
    }
}

fn check_config_after_env(config: &StorageConfig) {
    for k in config.params.keys() {
        assert_eq!(k, k.to_ascii_lowercase());
    }
}
