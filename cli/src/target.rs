//! Which driver a command works on: `--driver NAME -p key=value…`, or `--config config.yml`
//! (a registry configuration's `storage:` section, with `REGISTRY_STORAGE_*` overrides).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use wharf::config::StorageConfig;
use wharf::{Params, StorageDriver, WithBuiltin};

/// Arguments that select and configure a driver.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// The driver to use (see `wharf drivers`).
    #[arg(long, short = 'd', conflicts_with = "config")]
    pub driver: Option<String>,
    /// A driver parameter, `key=value` (repeatable).
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// A registry config.yml whose `storage:` section configures the driver.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// A wharf.toml whose guest drivers are registered too.
    #[arg(long)]
    pub wharf_config: Option<PathBuf>,
}

/// The built-in drivers, plus the guest drivers of `wharf_config` if given.
pub async fn registry(
    wharf_config: Option<&std::path::Path>,
) -> anyhow::Result<wharf::DriverRegistry> {
    let mut registry = wharf::DriverRegistry::with_builtin();
    if let Some(path) = wharf_config {
        let config = wharf::config::WharfConfig::load(path)?;
        let runtime = wharf::wasm::GuestRuntime::global()?;
        wharf::wasm::register_config(&mut registry, &runtime, &config)
            .await
            .with_context(|| format!("registering the drivers of {}", path.display()))?;
    }
    Ok(registry)
}

/// Says how to get the rados driver or the JavaScript guest when this command was built without
/// it (rados links the system's librados, the JavaScript guest's build needs Node.js: each is a
/// cargo feature of the command, off by default).
pub fn ensure_built_in(registry: &wharf::DriverRegistry, name: &str) -> anyhow::Result<()> {
    if registry.canonical(name).is_some() {
        return Ok(());
    }
    if name == "rados" {
        bail!(
            "this wharf command was built without the rados driver; build it with \
             `cargo build -p wharf-cli --features rados` (needs librados, Debian: librados-dev)"
        );
    }
    if name == wharf::guests::JS_INMEMORY {
        bail!(
            "this wharf command was built without the JavaScript guest; build it with \
             `cargo build -p wharf-cli --features js` (needs Node.js 20+ and npm), as \
             scripts/wharf does"
        );
    }
    Ok(())
}

/// Parses `key=value`.
pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Parameters from `-p` pairs.
pub fn params_from(pairs: &[(String, String)]) -> Params {
    Params::from_pairs(pairs.iter().cloned())
}

impl TargetArgs {
    /// Creates the selected driver.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn StorageDriver>> {
        let registry = registry(self.wharf_config.as_deref()).await?;
        let (name, mut params) = match (&self.driver, &self.config) {
            (Some(name), None) => (name.clone(), Params::new()),
            (None, Some(path)) => {
                let config = StorageConfig::load(path)
                    .with_context(|| format!("loading {}", path.display()))?;
                (config.driver, config.params)
            }
            (None, None) => bail!("say which driver to use: --driver NAME or --config FILE"),
            (Some(_), Some(_)) => unreachable!("clap rejects --driver with --config"),
        };
        for (k, v) in &self.params {
            params.insert(k.clone(), v.as_str());
        }
        ensure_built_in(&registry, &name)?;
        Ok(registry.create(&name, params).await?)
    }
}

#[cfg(test)]
mod tests {
    use wharf::WithBuiltin;

    use super::ensure_built_in;

    #[test]
    fn a_command_without_rados_or_the_js_guest_says_how_to_get_them() {
        let bare = wharf::DriverRegistry::new();
        let e = ensure_built_in(&bare, "rados").unwrap_err().to_string();
        assert!(e.contains("--features rados"), "{e}");
        let e = ensure_built_in(&bare, wharf::guests::JS_INMEMORY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--features js"), "{e}");
        assert!(
            ensure_built_in(&bare, "nosuch").is_ok(),
            "the registry names those"
        );
        let registry = wharf::DriverRegistry::with_builtin();
        assert!(ensure_built_in(&registry, "s3").is_ok());
        if registry.canonical("rados").is_some() {
            assert!(ensure_built_in(&registry, "rados").is_ok());
        }
    }
}
