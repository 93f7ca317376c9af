//! Target `wharf_toml`: Wharf's own `wharf.toml` (`WharfConfig::from_toml`) and the sandbox
//! policy each guest's table gives (`SandboxPolicy::from_params`, which reads sizes, durations,
//! directory grants and HTTP hosts). Files are generated as tables (sections, drivers, their
//! `component`, `params`, `sandbox` and unknown keys; every policy key with values of every
//! form, keys in any case) and written out as TOML, or given as any text. A file is read as the
//! model says or refused with an error naming the offending key (a key given twice in different
//! cases among them); a policy that is read holds only values in its documented ranges, and one
//! that is refused names a key.

use std::path::Path;

use bolero::TypeGenerator;
use wharf_runtime::config::WharfConfig;
use wharf_runtime::params::{Params, Value};
use wharf_runtime::wasm::SandboxPolicy;
use wharf_runtime::wasm::policy::MAX_MEMORY;
use wharf_runtime::{Error, ErrorKind};

use crate::config_yaml::{Name, Scalar, ScalarMap};
use crate::params::Text;

/// A top-level section's name.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Section {
    /// `drivers`.
    Drivers,
    /// `Drivers` (sections are case-sensitive).
    Capital,
    /// Any name.
    Any(#[generator(bolero::produce::<String>().with().len(0usize..=8))] String),
}

impl Section {
    fn name(&self) -> String {
        match self {
            Section::Drivers => "drivers".into(),
            Section::Capital => "Drivers".into(),
            Section::Any(s) => s.clone(),
        }
    }
}

/// A key of the sandbox table.
#[derive(Debug, Clone, TypeGenerator)]
pub enum SandboxKey {
    /// One of the keys the policy reads.
    Known(u8),
    /// Any key.
    Any(#[generator(bolero::produce::<String>().with().len(0usize..=12))] String),
}

const SANDBOX_KEYS: [&str; 16] = [
    "memory",
    "timeout",
    "instances",
    "restart_budget",
    "restart_window",
    "open_files",
    "http_requests",
    "answer_bytes",
    "list_entries",
    "list_bytes",
    "walk_entries",
    "walk_bytes",
    "dirs",
    "http",
    "env",
    "Memory",
];

impl SandboxKey {
    fn name(&self) -> String {
        match self {
            SandboxKey::Known(n) => SANDBOX_KEYS[usize::from(*n) % SANDBOX_KEYS.len()].into(),
            SandboxKey::Any(s) => s.clone(),
        }
    }
}

/// A piece of a directory grant or an HTTP host.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Piece {
    /// A word of grants and hosts.
    Word(u8),
    /// A number.
    Number(u16),
    /// Any character.
    Other(char),
}

const WORDS: [&str; 22] = [
    "/srv/blobs",
    "/data",
    "data",
    ":",
    "ro",
    "rw",
    "http://",
    "https://",
    "ftp://",
    "example.com",
    "s3.internal",
    ".",
    "[",
    "]",
    "::1",
    "::ffff:127.0.0.1",
    "127.0.0.1",
    "0x7f000001",
    "@",
    "/",
    "-",
    " ",
];

/// A directory grant or an HTTP host, in pieces.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Spec {
    /// The pieces.
    #[generator(bolero::produce::<Vec<Piece>>().with().len(0usize..=6))]
    pub pieces: Vec<Piece>,
}

fn pieces(spec: &Spec) -> String {
    let mut s = String::new();
    for p in &spec.pieces {
        match p {
            Piece::Word(n) => s.push_str(WORDS[usize::from(*n) % WORDS.len()]),
            Piece::Number(n) => s.push_str(&n.to_string()),
            Piece::Other(c) => s.push(*c),
        }
    }
    s
}

/// A value of the sandbox table.
#[derive(Debug, Clone, TypeGenerator)]
pub enum SandboxValue {
    /// A scalar (sizes, durations, numbers, words).
    Scalar(Scalar),
    /// A grant or host text.
    Spec(Spec),
    /// A list of grant or host texts.
    Specs(#[generator(bolero::produce::<Vec<Spec>>().with().len(0usize..=3))] Vec<Spec>),
    /// A list of grant tables.
    Grants(#[generator(bolero::produce::<Vec<Grant>>().with().len(0usize..=2))] Vec<Grant>),
    /// A table of scalars (the environment).
    Table(ScalarMap),
}

/// A directory grant written as a table.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Grant {
    /// `host`.
    pub host: Option<Spec>,
    /// `guest`.
    pub guest: Option<Spec>,
    /// `readonly`.
    pub readonly: Option<Scalar>,
    /// `quota`.
    pub quota: Option<Text>,
    /// A key no grant has.
    pub extra: Option<Name>,
}

/// A driver's sandbox table.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Sandbox {
    /// Its entries.
    #[generator(bolero::produce::<Vec<(SandboxKey, SandboxValue)>>().with().len(0usize..=5))]
    pub entries: Vec<(SandboxKey, SandboxValue)>,
}

/// The drivers of a section, by name.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Drivers {
    /// Name and table of each.
    #[generator(bolero::produce::<Vec<(DriverName, Driver)>>().with().len(0usize..=3))]
    pub entries: Vec<(DriverName, Driver)>,
}

/// A driver's name.
#[derive(Debug, Clone, TypeGenerator)]
pub struct DriverName(#[generator(bolero::produce::<String>().with().len(0usize..=8))] pub String);

/// One driver's table.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Driver {
    /// Give the driver a scalar instead of a table.
    pub not_a_table: bool,
    /// Write the table's own keys upper-case (keys are case-insensitive).
    pub upper: bool,
    /// `component`.
    pub component: Option<Scalar>,
    /// `params`: a table, or a scalar in its place.
    pub params: Option<Result<ScalarMap, Scalar>>,
    /// `sandbox`.
    pub sandbox: Option<Sandbox>,
    /// A key no driver has.
    pub extra: Option<(Name, Scalar)>,
}

/// A file, or any text.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Input {
    /// Read `raw` rather than the generated file.
    pub use_raw: bool,
    /// Any text.
    #[generator(bolero::produce::<String>().with().len(0usize..=64))]
    pub raw: String,
    /// Sections, each with drivers by name.
    #[generator(bolero::produce::<Vec<(Section, Drivers)>>().with().len(0usize..=3))]
    pub sections: Vec<(Section, Drivers)>,
}

fn scalar_toml(s: &Scalar) -> Option<toml::Value> {
    Some(match s {
        Scalar::Text(t) => toml::Value::String(t.render()),
        Scalar::Int(i) => toml::Value::Integer(*i),
        Scalar::Float(q) => toml::Value::Float(f64::from(*q) / 4.0),
        Scalar::Bool(b) => toml::Value::Boolean(*b),
        // TOML has no null: the key is left out.
        Scalar::Null => return None,
    })
}

fn table(entries: impl IntoIterator<Item = (String, Option<toml::Value>)>) -> toml::Table {
    entries
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

fn name_text(n: &Name) -> String {
    match n.raw() {
        crate::config_yaml::RawKey::Text(s) => s,
        crate::config_yaml::RawKey::Int(i) => i.to_string(),
    }
}

fn sandbox_toml(v: &SandboxValue) -> Option<toml::Value> {
    Some(match v {
        SandboxValue::Scalar(s) => return scalar_toml(s),
        SandboxValue::Spec(ps) => toml::Value::String(pieces(ps)),
        SandboxValue::Specs(list) => toml::Value::Array(
            list.iter()
                .map(|ps| toml::Value::String(pieces(ps)))
                .collect(),
        ),
        SandboxValue::Grants(grants) => toml::Value::Array(
            grants
                .iter()
                .map(|g| {
                    toml::Value::Table(table([
                        ("host".into(), g.host.as_ref().map(|p| pieces(p).into())),
                        ("guest".into(), g.guest.as_ref().map(|p| pieces(p).into())),
                        ("readonly".into(), g.readonly.as_ref().and_then(scalar_toml)),
                        ("quota".into(), g.quota.as_ref().map(|t| t.render().into())),
                        (
                            g.extra.as_ref().map(name_text).unwrap_or_default(),
                            g.extra.as_ref().map(|_| true.into()),
                        ),
                    ]))
                })
                .collect(),
        ),
        SandboxValue::Table(m) => toml::Value::Table(table(
            m.entries
                .iter()
                .map(|(k, v)| (name_text(k), scalar_toml(v))),
        )),
    })
}

impl Driver {
    fn key(&self, k: &str) -> String {
        if self.upper {
            k.to_ascii_uppercase()
        } else {
            k.to_owned()
        }
    }

    fn toml(&self) -> toml::Value {
        if self.not_a_table {
            return toml::Value::Integer(7);
        }
        let params = self.params.as_ref().map(|p| match p {
            Ok(m) => toml::Value::Table(table(
                m.entries
                    .iter()
                    .map(|(k, v)| (name_text(k), scalar_toml(v))),
            )),
            Err(s) => scalar_toml(s).unwrap_or(toml::Value::Boolean(false)),
        });
        let sandbox = self.sandbox.as_ref().map(|s| {
            toml::Value::Table(table(
                s.entries.iter().map(|(k, v)| (k.name(), sandbox_toml(v))),
            ))
        });
        let mut t = table([
            (
                self.key("component"),
                self.component.as_ref().and_then(scalar_toml),
            ),
            (self.key("params"), params),
            (self.key("sandbox"), sandbox),
        ]);
        if let Some((k, v)) = &self.extra {
            let k = name_text(k);
            if !["component", "params", "sandbox"].contains(&k.to_ascii_lowercase().as_str())
                && let Some(v) = scalar_toml(v)
            {
                t.insert(k, v);
            }
        }
        toml::Value::Table(t)
    }

    /// The error key the model expects of this driver, if any: a scalar in its place, a missing
    /// or empty component, params or sandbox that are not tables, an unknown key.
    fn expected_error(&self, name: &str) -> Option<Vec<String>> {
        if self.not_a_table {
            return Some(vec![format!("drivers.{name}")]);
        }
        let mut keys = Vec::new();
        let component_ok = match self.component.as_ref().map(Scalar::value) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        if !component_ok {
            keys.push(format!("drivers.{name}.component"));
        }
        if let Some(Err(_)) = &self.params {
            keys.push("params".into());
        }
        if let Some((k, v)) = &self.extra {
            let k = name_text(k).to_ascii_lowercase();
            if !["component", "params", "sandbox"].contains(&k.as_str()) && scalar_toml(v).is_some()
            {
                keys.push(k);
            }
        }
        (!keys.is_empty()).then_some(keys)
    }
}

/// The paths of the keys that `v` (at `at`) holds twice in different cases, which are refused.
fn keys_twice(v: &toml::Value, at: &str, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            let mut seen = std::collections::BTreeSet::new();
            for (k, v) in t {
                let lower = k.to_ascii_lowercase();
                let path = format!("{at}.{lower}");
                keys_twice(v, &path, out);
                if !seen.insert(lower) {
                    out.push(path);
                }
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                keys_twice(item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Where relative components are resolved.
const BASE: &str = "/etc/wharf";

/// Checks the file (or text) and the policy of each of its drivers.
pub fn check(input: &Input) {
    if input.use_raw {
        match WharfConfig::from_toml(&input.raw, Path::new(BASE)) {
            Ok(config) => {
                for guest in config.drivers.values() {
                    assert!(guest.component.starts_with(BASE) || guest.component.is_absolute());
                    check_policy(guest.sandbox.clone());
                }
            }
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::InvalidParameter { .. }),
                "{e:?}"
            ),
        }
        return;
    }
    let mut doc = toml::Table::new();
    for (section, drivers) in &input.sections {
        let name = section.name();
        if name == "drivers" {
            let t: toml::Table = drivers
                .entries
                .iter()
                .map(|(n, d)| (n.0.clone(), d.toml()))
                .collect();
            doc.insert(name, toml::Value::Table(t));
        } else {
            doc.insert(name, toml::Value::Boolean(true));
        }
    }
    let Ok(file) = toml::to_string(&doc) else {
        return;
    };
    // The drivers that survive the table (a later one of the same name replaces the earlier).
    let drivers: std::collections::BTreeMap<&String, &Driver> = input
        .sections
        .iter()
        .rfind(|(s, _)| s.name() == "drivers")
        .map(|(_, ds)| ds.entries.iter().map(|(n, d)| (&n.0, d)).collect())
        .unwrap_or_default();
    let unknown: Vec<String> = doc.keys().filter(|k| *k != "drivers").cloned().collect();
    let mut possible: Vec<String> = unknown.clone();
    for (name, driver) in &drivers {
        possible.extend(driver.expected_error(name).unwrap_or_default());
        keys_twice(&driver.toml(), &format!("drivers.{name}"), &mut possible);
    }
    match WharfConfig::from_toml(&file, Path::new(BASE)) {
        Ok(config) => {
            assert!(
                possible.is_empty(),
                "{file}\naccepted, expected one of {possible:?}"
            );
            assert_eq!(config.drivers.len(), drivers.len(), "{file}");
            for (name, driver) in drivers {
                let guest = &config.drivers[name];
                let component = match driver.component.as_ref().map(Scalar::value) {
                    Some(Value::String(s)) => s,
                    Some(Value::Int(i)) => i.to_string(),
                    Some(Value::Float(x)) => x.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    other => panic!("{other:?} accepted as a component"),
                };
                assert_eq!(guest.component, Path::new(BASE).join(component));
                for (k, _) in guest.params.iter().chain(guest.sandbox.iter()) {
                    assert_eq!(k, k.to_ascii_lowercase());
                }
                check_policy(guest.sandbox.clone());
            }
        }
        Err(e) => {
            let ErrorKind::InvalidParameter { key } = e.kind() else {
                panic!("{file}\n{e:?}");
            };
            assert!(
                possible.contains(key),
                "{file}\n{e}: expected one of {possible:?}"
            );
        }
    }
}

/// A policy is read with values in their ranges, or refused naming a key.
fn check_policy(sandbox: Params) {
    let mut known = Vec::new();
    for (k, v) in sandbox.iter() {
        known.push(k.to_owned());
        keys_within(v, &mut known);
    }
    match SandboxPolicy::from_params(sandbox) {
        Ok(p) => {
            assert!((1..=MAX_MEMORY).contains(&p.memory_limit));
            assert!(!p.call_timeout.is_zero());
            assert!((1..=256).contains(&p.instances));
            assert!((8..=65_536).contains(&p.open_files));
            assert!((1..=1024).contains(&p.http_requests));
            let a = &p.answers;
            assert!(a.bytes > 0 && a.list_entries > 0 && a.list_bytes > 0);
            assert!(a.walk_entries > 0 && a.walk_bytes > 0);
            for d in &p.dirs {
                assert!(d.guest.starts_with('/'), "{d:?}");
                assert!(!d.host.as_os_str().is_empty(), "{d:?}");
                assert!(d.quota != Some(0));
            }
            assert!(p.http_hosts.iter().all(|h| !h.is_empty()));
            for (k, _) in &p.env {
                assert_eq!(*k, k.to_ascii_uppercase());
            }
        }
        Err(e) => names_a_key(&e, &known),
    }
}

/// The keys of the maps within `v` (a grant's, the environment's).
fn keys_within(v: &Value, keys: &mut Vec<String>) {
    match v {
        Value::Map(m) => {
            for (k, v) in m {
                keys.push(k.clone());
                keys_within(v, keys);
            }
        }
        Value::List(items) => items.iter().for_each(|v| keys_within(v, keys)),
        _ => {}
    }
}

/// A policy's error names a key of the table, of a grant, or of the environment.
fn names_a_key(e: &Error, known: &[String]) {
    let ErrorKind::InvalidParameter { key } = e.kind() else {
        panic!("{e:?}");
    };
    let nested = ["host", "guest", "readonly", "quota", "dirs", "http", "env"];
    assert!(
        known.contains(key) || nested.contains(&key.as_str()),
        "{e}: names {key:?}, the table has {known:?}"
    );
}
