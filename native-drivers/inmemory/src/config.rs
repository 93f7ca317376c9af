//! Parameters of the in-memory driver.

use wharf_runtime::{Params, Result};

/// How an in-memory driver is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Instances created with the same namespace in one process share one store; without it,
    /// every instance has a private store (the reference's behaviour).
    pub namespace: Option<String>,
}

impl Config {
    /// Reads `namespace` (optional); any other key is an error naming it.
    pub fn from_params(mut params: Params) -> Result<Self> {
        let namespace = params.string("namespace")?.filter(|s| !s.is_empty());
        params.finish()?;
        Ok(Self { namespace })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_params(Params::from_pairs([("rootdirectory", "/x")])).unwrap_err();
        assert!(e.to_string().contains("\"rootdirectory\""), "{e}");
    }

    #[test]
    fn namespace_is_optional() {
        assert_eq!(Config::from_params(Params::new()).unwrap().namespace, None);
        let c = Config::from_params(Params::from_pairs([("namespace", "t1")])).unwrap();
        assert_eq!(c.namespace.as_deref(), Some("t1"));
    }
}
