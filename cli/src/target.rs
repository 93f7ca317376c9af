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
        Ok(registry.create(&name, params).await?)
    }
}
