//! Typed access to a driver's parameter map (CONTRACT §5): values arrive as strings, integers,
//! booleans or nested maps (from YAML, TOML, the environment or the command line), and a driver
//! takes each key as the type it needs. Strings like `"true"`, `"10"`, `"0x10"`, `"10MiB"` and
//! `"100ms"` are accepted where a bool, number, size or duration is expected. Taking keys marks
//! them used; [`Params::finish`] then rejects any key the driver did not take, naming it.
//!
//! Values of keys that look secret (keys, passwords, tokens) never appear in `Debug` or errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use wharf_contract::params::{
    EXPECTED_BOOL, EXPECTED_DURATION, EXPECTED_INTEGER, EXPECTED_SIZE, parse_bool,
};
pub use wharf_contract::params::{parse_duration, parse_integer, parse_size};

use crate::error::{Error, Result};

/// One parameter value.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// No value (YAML `~`, an empty key): taken as absent.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text, which getters also read as a boolean, number, size or duration.
    String(String),
    /// A sequence.
    List(Vec<Value>),
    /// Nested parameters (lowercase keys).
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// A short description of the value's form, for error messages.
    fn describe(&self) -> String {
        match self {
            Value::Null => "nothing".into(),
            Value::Bool(b) => format!("{b}"),
            Value::Int(i) => format!("{i}"),
            Value::Float(f) => format!("{f}"),
            Value::String(s) => format!("{s:?}"),
            Value::List(_) => "a list".into(),
            Value::Map(_) => "a map".into(),
        }
    }

    /// Converts a YAML value (from a registry config.yml). Keys are lowercased; two keys of a
    /// map that differ only in case are refused, naming the key (`at` is the map's path).
    pub fn from_yaml(v: &serde_yaml::Value) -> Result<Value> {
        Value::from_yaml_at(v, "")
    }

    /// [`Value::from_yaml`] of the value at path `at` of a document (which errors then name).
    pub fn from_yaml_at(v: &serde_yaml::Value, at: &str) -> Result<Value> {
        Ok(match v {
            serde_yaml::Value::Null => Value::Null,
            serde_yaml::Value::Bool(b) => Value::Bool(*b),
            serde_yaml::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_yaml::Value::String(s) => Value::String(s.clone()),
            serde_yaml::Value::Sequence(items) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Value::from_yaml_at(item, &format!("{at}[{i}]")))
                    .collect::<Result<_>>()?,
            ),
            serde_yaml::Value::Mapping(m) => {
                let mut map = KeyedOnce::new(at);
                for (k, v) in m {
                    let key = yaml_key(k);
                    let value = Value::from_yaml_at(v, &map.path_of(&key))?;
                    map.insert(key, value)?;
                }
                map.done()
            }
            serde_yaml::Value::Tagged(t) => Value::from_yaml_at(&t.value, at)?,
        })
    }
}

/// A map being read from a configuration file, whose keys are lowercased: refuses a key given
/// twice in different cases (`rootDirectory` and `rootdirectory`) rather than letting the later
/// silently win.
pub(crate) struct KeyedOnce<'a> {
    at: &'a str,
    map: BTreeMap<String, Value>,
    spelled: BTreeMap<String, String>,
}

impl<'a> KeyedOnce<'a> {
    /// An empty map at path `at` (dotted, "" for the top).
    pub(crate) fn new(at: &'a str) -> Self {
        KeyedOnce {
            at,
            map: BTreeMap::new(),
            spelled: BTreeMap::new(),
        }
    }

    /// The path of `key` in this map.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_ascii_lowercase()
        } else {
            format!("{}.{}", self.at, key.to_ascii_lowercase())
        }
    }

    /// Adds `key` (as written) with `value`.
    pub(crate) fn insert(&mut self, key: String, value: Value) -> Result<()> {
        let lower = key.to_ascii_lowercase();
        if let Some(first) = self.spelled.get(&lower) {
            return Err(Error::invalid_parameter(
                self.path_of(&lower),
                format!("given twice, as {first:?} and {key:?} (keys are read in lower case)"),
            ));
        }
        self.spelled.insert(lower.clone(), key);
        self.map.insert(lower, value);
        Ok(())
    }

    /// The map.
    pub(crate) fn done(self) -> Value {
        Value::Map(self.map)
    }
}

fn yaml_key(k: &serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Map(m) => f
                .debug_map()
                .entries(m.iter().map(|(k, v)| (k, Redacted(k, v))))
                .finish(),
            other => f.write_str(&other.describe()),
        }
    }
}

/// Shows a value unless its key looks secret.
struct Redacted<'a>(&'a str, &'a Value);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret_key(self.0) {
            f.write_str("<redacted>")
        } else {
            fmt::Debug::fmt(self.1, f)
        }
    }
}

/// True for keys whose values must never be shown (`accountkey`, `secretkey`, `password`, …).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "token",
        "accountkey",
        "credential",
        "keyfile_contents",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k == "accesskey"
        || k == "privatekey"
        || k == "private_key"
}

/// A secret string: its value is reachable only through [`Secret::expose`]; `Debug` and
/// `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A driver's parameters, taken key by key.
#[derive(Clone, Default)]
pub struct Params {
    values: BTreeMap<String, Value>,
    taken: BTreeSet<String>,
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(k, v)| (k, Redacted(k, v))))
            .finish()
    }
}

impl Params {
    /// Empty parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parameters from `(key, value)` pairs. Keys are case-insensitive (kept lowercase).
    pub fn from_pairs<K: Into<String>, V: Into<Value>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut p = Self::new();
        for (k, v) in pairs {
            p.insert(k, v);
        }
        p
    }

    /// Parameters from a map value (`Null` gives empty parameters).
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Map(m) => Ok(Self::from_pairs(m)),
            Value::Null => Ok(Self::new()),
            other => Err(Error::invalid_parameter(
                "parameters",
                format!("expected a map of parameters, got {}", other.describe()),
            )),
        }
    }

    /// Sets `key` (lowercased) to `value`, replacing any earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.values
            .insert(key.into().to_ascii_lowercase(), value.into());
    }

    /// True when `key` is present (whether or not taken).
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The raw value of `key`, without marking it taken.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every `(key, value)` pair, sorted by key (values of secret keys included: for handing
    /// parameters on to a driver, never for display).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Marks `key` as used without reading it (for callers that read [`Params::get`] directly).
    pub fn mark_taken(&mut self, key: &str) {
        self.taken.insert(key.to_owned());
    }

    /// Converts back to a map value.
    pub fn into_value(self) -> Value {
        Value::Map(self.values)
    }

    fn take(&mut self, key: &str) -> Option<&Value> {
        self.taken.insert(key.to_owned());
        match self.values.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn bad(key: &str, expected: &str, got: &Value) -> Error {
        let got = if is_secret_key(key) {
            "<redacted>".to_owned()
        } else {
            got.describe()
        };
        Error::invalid_parameter(key, format!("expected {expected}, got {got}"))
    }

    /// A string (numbers and booleans are accepted and shown as text).
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Int(i)) => Ok(Some(i.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(Value::Float(x)) => Ok(Some(x.to_string())),
            Some(other) => Err(Self::bad(key, "a string", &other.clone())),
        }
    }

    /// A required string.
    pub fn required_string(&mut self, key: &str) -> Result<String> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(Error::invalid_parameter(
                key,
                "missing required parameter (expected a non-empty string)",
            )),
        }
    }

    /// A secret string.
    pub fn secret(&mut self, key: &str) -> Result<Option<Secret>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(Secret::new(s.clone()))),
            Some(Value::Int(i)) => Ok(Some(Secret::new(i.to_string()))),
            Some(_) => Err(Error::invalid_parameter(
                key,
                "expected a string, got <redacted>",
            )),
        }
    }

    /// A boolean: `true`/`false` or the strings `true`, `false`, `yes`, `no`, `on`, `off`, `1`, `0`.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            Value::String(s) => parse_bool(s),
            _ => None,
        };
        let v = v.clone();
        parsed
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_BOOL, &v))
    }

    /// A non-negative integer: a number, or a string in decimal, `0x` hex, `0o` octal or `0b`
    /// binary, with optional `_` separators.
    pub fn u64(&mut self, key: &str) -> Result<Option<u64>> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        let parsed = match v {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Float(x) if x.fract() == 0.0 && *x >= 0.0 && *x < 1.8e19 => Some(*x as u64),
            Value::String(s) => parse_integer(s),
            _ => None,
        };
        let v = v.clone();
        parsed
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_INTEGER, &v))
    }

    /// A byte size: an integer, or a string with a unit (`10MiB`, `5mb`, `1G`, `512k`). Binary
    /// units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024; decimal ones (`KB`, `MB`, …) of
    /// 1000; a bare letter (`K`, `M`, `G`) is read as binary, as most registry configs mean it.
    pub fn size(&mut self, key: &str) -> Result<Option<u64>> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        let parsed = match v {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::String(s) => parse_size(s),
            _ => None,
        };
        let v = v.clone();
        parsed
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_SIZE, &v))
    }

    /// A duration: a string like `100ms`, `30s`, `5m`, `1h30m`, `2.5s`; a bare integer is
    /// seconds.
    pub fn duration(&mut self, key: &str) -> Result<Option<Duration>> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        let parsed = match v {
            Value::Int(i) => u64::try_from(*i).ok().map(Duration::from_secs),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        let v = v.clone();
        parsed
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_DURATION, &v))
    }

    /// A nested map of parameters (taken whole; the caller finishes it itself).
    pub fn map(&mut self, key: &str) -> Result<Option<Params>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Map(m)) => Ok(Some(Params::from_pairs(m.clone()))),
            Some(other) => {
                let other = other.clone();
                Err(Self::bad(key, "a map", &other))
            }
        }
    }

    /// Fails on the first key no one took, listing the keys this driver accepts.
    pub fn finish(&self) -> Result<()> {
        match self.values.keys().find(|k| !self.taken.contains(*k)) {
            None => Ok(()),
            Some(unknown) => {
                let accepted: Vec<&str> = self.taken.iter().map(String::as_str).collect();
                Err(Error::invalid_parameter(
                    unknown.clone(),
                    format!(
                        "unknown parameter (accepted: {})",
                        if accepted.is_empty() {
                            "none".to_owned()
                        } else {
                            accepted.join(", ")
                        }
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_from_strings_and_natives() {
        let mut p = Params::from_pairs([
            ("a", Value::from("true")),
            ("b", Value::from(10)),
            ("c", Value::from("0x10")),
            ("d", Value::from("10MiB")),
            ("e", Value::from("100ms")),
            ("f", Value::from("1h30m")),
        ]);
        assert_eq!(p.bool("a").unwrap(), Some(true));
        assert_eq!(p.u64("b").unwrap(), Some(10));
        assert_eq!(p.u64("c").unwrap(), Some(16));
        assert_eq!(p.size("d").unwrap(), Some(10 << 20));
        assert_eq!(p.duration("e").unwrap(), Some(Duration::from_millis(100)));
        assert_eq!(p.duration("f").unwrap(), Some(Duration::from_secs(5400)));
        assert!(p.finish().is_ok());
    }

    #[test]
    fn bad_values_name_the_key_and_form() {
        let mut p = Params::from_pairs([("maxthreads", "lots")]);
        let e = p.u64("maxthreads").unwrap_err();
        assert_eq!(
            e.kind(),
            &crate::ErrorKind::InvalidParameter {
                key: "maxthreads".into()
            }
        );
        assert!(
            e.to_string().contains("expected a non-negative integer"),
            "{e}"
        );
        assert!(e.to_string().contains("\"lots\""), "{e}");
    }

    #[test]
    fn unknown_key_is_named_with_accepted_ones() {
        let mut p = Params::from_pairs([("rootdirectory", "/x"), ("rootdirectroy", "/y")]);
        p.string("rootdirectory").unwrap();
        let e = p.finish().unwrap_err();
        let text = e.to_string();
        assert!(text.contains("rootdirectroy"), "{text}");
        assert!(text.contains("accepted: rootdirectory"), "{text}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let mut p = Params::new();
        let e = p.required_string("bucket").unwrap_err();
        assert!(e.to_string().contains("\"bucket\""), "{e}");
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn secrets_never_shown() {
        let mut p = Params::from_pairs([("secretkey", "hunter2"), ("region", "eu")]);
        let debug = format!("{p:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("eu"), "{debug}");
        let s = p.secret("secretkey").unwrap().unwrap();
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
        let mut q = Params::from_pairs([("accountkey", Value::List(vec![]))]);
        let e = q.u64("accountkey").unwrap_err();
        assert!(e.to_string().contains("<redacted>"), "{e}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("5mb"), Some(5_000_000));
        assert_eq!(parse_duration("2.5s"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn null_counts_as_absent() {
        let mut p = Params::from_pairs([("a", Value::Null)]);
        assert_eq!(p.string("a").unwrap(), None);
        assert!(p.finish().is_ok());
    }
}
