//! Guest drivers in the factory: registering a loaded component under a name with the
//! operator's policy, and registering every guest driver a `wharf.toml` configures.
//!
//! A stateful guest keeps its data in its one instance, so drivers created with identical
//! parameters share that instance (as two processes share one bucket); a stateless guest gets a
//! pool of its own per driver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::component::GuestComponent;
use super::driver::GuestDriver;
use super::engine::GuestRuntime;
use super::policy::SandboxPolicy;
use crate::config::WharfConfig;
use crate::driver::StorageDriver;
use crate::error::Result;
use crate::factory::DriverRegistry;
use crate::params::Params;

/// Adjusts a driver's parameters and policy before it starts (e.g. a bundled driver turning a
/// host `rootdirectory` into a directory grant).
pub type Prepare = Arc<dyn Fn(&mut Params, &mut SandboxPolicy) -> Result<()> + Send + Sync>;

/// Where a registered guest driver's component comes from.
enum Source {
    /// Already loaded.
    Loaded(Arc<GuestComponent>),
    /// Bytes compiled into the program, loaded on first use (compiling can take seconds) and
    /// then shared by every registry of the process.
    Bundled {
        wasm: &'static [u8],
        label: String,
        loaded: Arc<tokio::sync::OnceCell<Arc<GuestComponent>>>,
    },
}

/// Creates the drivers of one registered guest.
struct GuestFactory {
    name: String,
    source: Source,
    policy: SandboxPolicy,
    prepare: Option<Prepare>,
    /// Drivers of a stateful guest by configuration, so identical configurations share state.
    by_configuration: Mutex<HashMap<String, Weak<GuestDriver>>>,
}

impl GuestFactory {
    async fn component(&self) -> Result<Arc<GuestComponent>> {
        match &self.source {
            Source::Loaded(c) => Ok(c.clone()),
            Source::Bundled {
                wasm,
                label,
                loaded,
            } => loaded
                .get_or_try_init(|| async {
                    GuestRuntime::global()?
                        .load_bytes(wasm.to_vec(), label)
                        .await
                })
                .await
                .cloned(),
        }
    }

    async fn create(&self, mut params: Params) -> Result<Arc<dyn StorageDriver>> {
        let component = self.component().await?;
        let mut policy = self.policy.clone();
        if let Some(prepare) = &self.prepare {
            prepare(&mut params, &mut policy)?;
        }
        let stateful = component.manifest.stateful;
        let key = format!("{:?}|{policy:?}", super::driver::guest_params(&params));
        if stateful {
            let found = self
                .by_configuration
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .and_then(Weak::upgrade);
            if let Some(driver) = found {
                return Ok(driver);
            }
        }
        let driver = Arc::new(GuestDriver::start(&self.name, component, policy, &params).await?);
        if stateful {
            let mut map = self
                .by_configuration
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.retain(|_, w| w.strong_count() > 0);
            map.insert(key, Arc::downgrade(&driver));
        }
        Ok(driver)
    }
}

fn register_factory(registry: &mut DriverRegistry, factory: GuestFactory) -> Result<()> {
    let factory = Arc::new(factory);
    let name = factory.name.clone();
    registry.register(&name, move |params: Params| {
        let factory = factory.clone();
        async move { factory.create(params).await }
    })
}

/// Registers `component` as the driver `name`, sandboxed by `policy`.
pub fn register_guest(
    registry: &mut DriverRegistry,
    name: &str,
    component: Arc<GuestComponent>,
    policy: SandboxPolicy,
) -> Result<()> {
    register_guest_with(registry, name, component, policy, None)
}

/// [`register_guest`] with a hook that prepares each driver's parameters and policy.
pub fn register_guest_with(
    registry: &mut DriverRegistry,
    name: &str,
    component: Arc<GuestComponent>,
    policy: SandboxPolicy,
    prepare: Option<Prepare>,
) -> Result<()> {
    register_factory(
        registry,
        GuestFactory {
            name: name.to_owned(),
            source: Source::Loaded(component),
            policy,
            prepare,
            by_configuration: Mutex::default(),
        },
    )
}

/// The process-wide slot of a bundled component (keyed by where its bytes live).
fn bundled_cell(wasm: &'static [u8]) -> Arc<tokio::sync::OnceCell<Arc<GuestComponent>>> {
    type Cells = Mutex<HashMap<usize, Arc<tokio::sync::OnceCell<Arc<GuestComponent>>>>>;
    static CELLS: std::sync::OnceLock<Cells> = std::sync::OnceLock::new();
    CELLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(wasm.as_ptr() as usize)
        .or_default()
        .clone()
}

/// Registers a component compiled into the program, loaded by the global runtime when the
/// first driver is created.
pub fn register_bundled(
    registry: &mut DriverRegistry,
    name: &str,
    wasm: &'static [u8],
    policy: SandboxPolicy,
    prepare: Option<Prepare>,
) -> Result<()> {
    register_factory(
        registry,
        GuestFactory {
            name: name.to_owned(),
            source: Source::Bundled {
                wasm,
                label: format!("bundled {name}"),
                loaded: bundled_cell(wasm),
            },
            policy,
            prepare,
            by_configuration: Mutex::default(),
        },
    )
}

/// Loads and registers every guest driver of `config`. Each driver's `params` become the
/// defaults its creation starts from (parameters given at creation override them).
pub async fn register_config(
    registry: &mut DriverRegistry,
    runtime: &Arc<GuestRuntime>,
    config: &WharfConfig,
) -> Result<()> {
    for (name, guest) in &config.drivers {
        let component = runtime
            .load_file(&guest.component)
            .await
            .map_err(|e| e.with_driver(name))?;
        let policy =
            SandboxPolicy::from_params(guest.sandbox.clone()).map_err(|e| e.with_driver(name))?;
        let defaults = guest.params.clone();
        let prepare: Prepare = Arc::new(move |params: &mut Params, _policy: &mut SandboxPolicy| {
            for (k, v) in defaults.iter() {
                if !params.contains(k) {
                    params.insert(k, v.clone());
                }
            }
            Ok(())
        });
        register_guest_with(registry, name, component, policy, Some(prepare))?;
    }
    Ok(())
}
