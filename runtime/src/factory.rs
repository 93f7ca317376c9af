//! The driver factory (CONTRACT §5): drivers registered by name (with aliases), created from a
//! parameter map, and always handed out behind the base layer.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::base::Base;
use crate::driver::StorageDriver;
use crate::error::{Error, ErrorKind, Result};
use crate::params::Params;

/// Builds a driver from its parameters. The constructor takes the keys it understands and calls
/// [`Params::finish`] so unknown keys are rejected.
pub type Constructor =
    Arc<dyn Fn(Params) -> BoxFuture<'static, Result<Arc<dyn StorageDriver>>> + Send + Sync>;

#[derive(Clone)]
struct Entry {
    /// The name the driver registered under (differs from the key for aliases).
    canonical: String,
    constructor: Constructor,
}

/// Registered drivers by name.
#[derive(Clone, Default)]
pub struct DriverRegistry {
    entries: BTreeMap<String, Entry>,
}

fn registry_error(message: String) -> Error {
    Error::new(ErrorKind::Registry).with_detail(message)
}

impl DriverRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a constructor under `name`. Registering a name twice is an error.
    pub fn register<F, Fut>(&mut self, name: &str, constructor: F) -> Result<()>
    where
        F: Fn(Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<dyn StorageDriver>>> + Send + 'static,
    {
        let constructor: Constructor = Arc::new(move |p| Box::pin(constructor(p)));
        self.insert(name, name, constructor)
    }

    /// Makes `alias` create the same driver as `target`.
    pub fn alias(&mut self, alias: &str, target: &str) -> Result<()> {
        let entry = self.entries.get(target).cloned().ok_or_else(|| {
            registry_error(format!(
                "cannot alias {alias:?} to unknown driver {target:?} (registered: {})",
                self.names_text()
            ))
        })?;
        self.insert(alias, &entry.canonical, entry.constructor)
    }

    fn insert(&mut self, name: &str, canonical: &str, constructor: Constructor) -> Result<()> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(registry_error(format!(
                "invalid driver name {name:?} (use letters, digits, '-' and '_')"
            )));
        }
        if self.entries.contains_key(name) {
            return Err(registry_error(format!(
                "driver {name:?} is already registered"
            )));
        }
        self.entries.insert(
            name.to_owned(),
            Entry {
                canonical: canonical.to_owned(),
                constructor,
            },
        );
        Ok(())
    }

    /// Registered names (aliases included), sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// The name `name` was registered under, if it is an alias; itself otherwise.
    pub fn canonical(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.canonical.as_str())
    }

    /// True when `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    fn names_text(&self) -> String {
        if self.entries.is_empty() {
            "none".into()
        } else {
            self.names().join(", ")
        }
    }

    /// Creates the driver registered as `name` from `params`, behind the base layer.
    pub async fn create(&self, name: &str, params: Params) -> Result<Arc<dyn StorageDriver>> {
        let entry = self.entries.get(name).ok_or_else(|| {
            registry_error(format!(
                "unknown driver {name:?} (registered: {})",
                self.names_text()
            ))
        })?;
        let driver = (entry.constructor)(params)
            .await
            .map_err(|e| e.with_driver(&entry.canonical))?;
        Ok(Base::wrap(driver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(_: Params) -> BoxFuture<'static, Result<Arc<dyn StorageDriver>>> {
        Box::pin(async { Err(Error::invalid_parameter("x", "expected nothing")) })
    }

    #[test]
    fn duplicate_name_is_an_error() {
        let mut r = DriverRegistry::new();
        r.register("one", failing).unwrap();
        let e = r.register("one", failing).unwrap_err();
        assert!(e.to_string().contains("already registered"), "{e}");
        let e = r.alias("one", "one").unwrap_err();
        assert!(e.to_string().contains("already registered"), "{e}");
    }

    #[tokio::test]
    async fn unknown_name_lists_registered_ones() {
        let mut r = DriverRegistry::new();
        r.register("one", failing).unwrap();
        r.register("two", failing).unwrap();
        r.alias("deux", "two").unwrap();
        let e = r.create("three", Params::new()).await.err().unwrap();
        assert_eq!(
            e.to_string(),
            "unknown driver \"three\" (registered: deux, one, two)"
        );
        assert_eq!(r.canonical("deux"), Some("two"));
    }

    #[tokio::test]
    async fn constructor_errors_carry_the_driver_name() {
        let mut r = DriverRegistry::new();
        r.register("one", failing).unwrap();
        r.alias("uno", "one").unwrap();
        let e = r.create("uno", Params::new()).await.err().unwrap();
        assert_eq!(e.driver(), Some("one"));
        assert!(
            e.to_string().starts_with("one: invalid parameter \"x\""),
            "{e}"
        );
    }
}
