//! Typed access to the parameters a driver is created with. The host passes the operator's
//! configuration as key/value text (numbers and booleans written as text, nested maps as JSON);
//! a driver takes each key it knows as the type it needs, then calls [`Params::finish`], which
//! rejects any key nobody took. Every failure is a `backend` error naming the key and the form
//! it expects, as the WIT constructor's contract asks.

use std::collections::BTreeSet;

use wharf_contract::params::{
    EXPECTED_BOOL, EXPECTED_DURATION, EXPECTED_INTEGER, EXPECTED_SIZE, parse_bool,
};
pub use wharf_contract::params::{parse_duration, parse_integer, parse_size};

use crate::error::{Error, Result};

/// The parameters of a driver, by lowercase key.
#[derive(Debug, Clone, Default)]
pub struct Params {
    entries: Vec<(String, String)>,
    taken: BTreeSet<String>,
}

impl Params {
    /// Parameters from key/value pairs; keys are lowercased, a repeated key keeps its last value.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (key, value) in pairs {
            let key = key.into().to_ascii_lowercase();
            let value = value.into();
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
        Self {
            entries,
            taken: BTreeSet::new(),
        }
    }

    /// True when `key` was given.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The keys that were given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    fn take(&mut self, key: &str) -> Option<&str> {
        self.taken.insert(key.to_owned());
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn bad(key: &str, expected: &str, got: &str) -> Error {
        Error::backend(
            format!("invalid parameter {key}: expected {expected}, got {got:?}"),
            false,
        )
    }

    /// A string, as given.
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        Ok(self.take(key).map(str::to_owned))
    }

    /// A non-empty string that must be given.
    pub fn required_string(&mut self, key: &str) -> Result<String> {
        match self.take(key) {
            Some(value) if !value.is_empty() => Ok(value.to_owned()),
            _ => Err(Error::backend(
                format!("missing required parameter {key} (expected a non-empty string)"),
                false,
            )),
        }
    }

    /// A boolean: `true`, `false`, `yes`, `no`, `on`, `off`, `1`, `0` (any case), read as the host
    /// reads it (`wharf_contract::params`).
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        parse_bool(value)
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_BOOL, value))
    }

    /// A non-negative integer in decimal, `0x` hex, `0o` octal or `0b` binary, with optional `_`
    /// separators.
    pub fn u64(&mut self, key: &str) -> Result<Option<u64>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        parse_integer(value)
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_INTEGER, value))
    }

    /// A byte size: an integer, or a number with a unit (`10MiB`, `5mb`, `1G`, `512k`). Binary
    /// units (`KiB`, `MiB`, …) and bare letters (`K`, `M`, …) are powers of 1024, decimal ones
    /// (`KB`, `MB`, …) powers of 1000.
    pub fn size(&mut self, key: &str) -> Result<Option<u64>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        parse_size(value)
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_SIZE, value))
    }

    /// A duration: `100ms`, `30s`, `5m`, `1h30m`, `2.5s`; a bare integer is seconds.
    pub fn duration(&mut self, key: &str) -> Result<Option<std::time::Duration>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        parse_duration(value)
            .map(Some)
            .ok_or_else(|| Self::bad(key, EXPECTED_DURATION, value))
    }

    /// Fails on the first key no getter took, naming it and the keys this driver accepts.
    pub fn finish(self) -> Result<()> {
        match self.entries.iter().find(|(k, _)| !self.taken.contains(k)) {
            None => Ok(()),
            Some((unknown, _)) => {
                let accepted: Vec<&str> = self.taken.iter().map(String::as_str).collect();
                let accepted = if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                };
                Err(Error::backend(
                    format!("unknown parameter {unknown} (accepted: {accepted})"),
                    false,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().copied())
    }

    #[test]
    fn typed_values() {
        let mut p = params(&[
            ("Name", "x"),
            ("flag", "Yes"),
            ("count", "0x10"),
            ("chunk", "10MiB"),
            ("small", "1.5k"),
            ("plus", "+10"),
            ("wait", "250ms"),
            ("bare", "3"),
        ]);
        assert_eq!(p.string("name").unwrap().as_deref(), Some("x"));
        assert_eq!(p.bool("flag").unwrap(), Some(true));
        assert_eq!(p.u64("count").unwrap(), Some(16));
        assert_eq!(p.size("chunk").unwrap(), Some(10 << 20));
        assert_eq!(p.size("small").unwrap(), Some(1536));
        // Read as the host reads it (the runtime's parameters accept a leading `+` too).
        assert_eq!(p.u64("plus").unwrap(), Some(10));
        assert_eq!(
            p.duration("wait").unwrap(),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            p.duration("bare").unwrap(),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(p.string("absent").unwrap(), None);
        p.finish().unwrap();
    }

    #[test]
    fn bad_values_name_the_key_and_form() {
        let mut p = params(&[
            ("flag", "maybe"),
            ("count", "-5"),
            ("size", "lots"),
            ("wait", "soon"),
        ]);
        let e = p.bool("flag").unwrap_err().to_string();
        assert!(e.contains("flag") && e.contains("boolean"), "{e}");
        let e = p.u64("count").unwrap_err().to_string();
        assert!(e.contains("count") && e.contains("integer"), "{e}");
        let e = p.size("size").unwrap_err().to_string();
        assert!(e.contains("size") && e.contains("10MiB"), "{e}");
        let e = p.duration("wait").unwrap_err().to_string();
        assert!(e.contains("wait") && e.contains("100ms"), "{e}");
        assert!(matches!(
            p.u64("count").unwrap_err(),
            Error::Backend {
                temporary: false,
                ..
            }
        ));
    }

    #[test]
    fn unknown_keys_are_named_with_accepted_ones() {
        let mut p = params(&[("namespace", "a"), ("bogus", "1")]);
        p.string("namespace").unwrap();
        let e = p.finish().unwrap_err().to_string();
        assert_eq!(e, "unknown parameter bogus (accepted: namespace)");
        let e = params(&[("x", "1")]).finish().unwrap_err().to_string();
        assert_eq!(e, "unknown parameter x (accepted: none)");
    }

    #[test]
    fn required_and_repeated_keys() {
        let mut p = params(&[("root", ""), ("k", "1"), ("k", "2")]);
        let e = p.required_string("root").unwrap_err().to_string();
        assert!(e.contains("root"), "{e}");
        assert_eq!(p.u64("k").unwrap(), Some(2));
        assert!(p.contains("k") && !p.contains("z"));
    }
}
