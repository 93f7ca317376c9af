//! Where `wharf check` and `wharf bench` run a driver: fresh, empty storage for each run (a new
//! namespace or temporary directory where Wharf can make one, a fresh registration of a
//! component with temporary directories granted), otherwise the storage the parameters name,
//! which must be empty to begin with, so that neither command ever touches real data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use wharf::wasm::{DirGrant, GuestComponent, RequestedCapability, SandboxPolicy};
use wharf::{DriverRegistry, Params, StorageDriver, WalkControl, WalkOptions};

use crate::guest::{self, SandboxArgs};
use crate::target::params_from;

/// The storage for the driver or component `name` with the parameters `params`.
pub async fn open(
    registry: &DriverRegistry,
    name: &str,
    params: &[(String, String)],
    sandbox: &SandboxArgs,
) -> anyhow::Result<Storage> {
    if guest::is_component_path(name) {
        let component = guest::load(std::path::Path::new(name)).await?;
        Storage::component(component, sandbox.policy()?, params_from(params)).await
    } else {
        Storage::new(registry, name, params_from(params)).await
    }
}

/// Where the checks (or the workloads) of one driver run.
pub struct Storage {
    registry: DriverRegistry,
    /// The driver's name in the registry (a component's registered name).
    pub name: String,
    params: Params,
    /// How to give each check its own storage, when Wharf can.
    scratch: Scratch,
    /// True when every check uses the same storage (the one the parameters name).
    pub shared: bool,
}

enum Scratch {
    None,
    /// A fresh `namespace` per check (in-memory drivers).
    Namespace,
    /// A fresh temporary `rootdirectory` per check (filesystem drivers).
    TempRoot,
    /// A fresh registration of a component per check, with temporary directories granted at
    /// these guest paths.
    Component {
        component: Arc<GuestComponent>,
        policy: Box<SandboxPolicy>,
        temp_dirs: Vec<String>,
    },
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl Storage {
    async fn new(registry: &DriverRegistry, name: &str, params: Params) -> anyhow::Result<Self> {
        crate::target::ensure_built_in(registry, name)?;
        let canonical = registry.canonical(name).unwrap_or(name).to_owned();
        let scratch = match canonical.as_str() {
            "inmemory" | wharf::guests::INMEMORY | wharf::guests::JS_INMEMORY
                if !params.contains("namespace") =>
            {
                Scratch::Namespace
            }
            "filesystem" | wharf::guests::FILESYSTEM if !params.contains("rootdirectory") => {
                Scratch::TempRoot
            }
            _ => Scratch::None,
        };
        Self {
            shared: matches!(scratch, Scratch::None),
            registry: registry.clone(),
            name: name.to_owned(),
            params,
            scratch,
        }
        .refuse_data()
        .await
    }

    async fn component(
        component: Arc<GuestComponent>,
        policy: SandboxPolicy,
        params: Params,
    ) -> anyhow::Result<Self> {
        let temp_dirs: Vec<String> = component
            .manifest
            .requested
            .iter()
            .filter_map(|c| match c {
                RequestedCapability::Directory(p) if !policy.dirs.iter().any(|d| &d.guest == p) => {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect();
        let shared = !policy.dirs.is_empty() && !component.manifest.stateful;
        let (registry, name) = guest::registry_for(component.clone(), policy.clone())?;
        Self {
            registry,
            name,
            params,
            scratch: Scratch::Component {
                component,
                policy: Box::new(policy),
                temp_dirs,
            },
            shared,
        }
        .refuse_data()
        .await
    }

    /// Refuses to run on shared storage that holds data: the checks write and delete.
    async fn refuse_data(self) -> anyhow::Result<Self> {
        if self.shared {
            let driver = self
                .registry
                .create(&self.name, self.params.clone())
                .await?;
            if let Some(found) = first_file(driver.as_ref()).await? {
                bail!(
                    "{}: the storage is not empty (found {found}); checks and benchmarks write and delete, so they need empty storage",
                    self.name
                );
            }
        }
        Ok(self)
    }

    /// A registry, parameters and the temporary directories to keep for one check (or one
    /// run of the workloads): fresh storage where Wharf can make it.
    pub fn for_check(&self) -> anyhow::Result<(DriverRegistry, Params, Vec<tempfile::TempDir>)> {
        let mut params = self.params.clone();
        let mut guards = Vec::new();
        let registry = match &self.scratch {
            Scratch::None => self.registry.clone(),
            Scratch::Namespace => {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                params.insert(
                    "namespace",
                    format!("wharf-check-{}-{n}", std::process::id()),
                );
                self.registry.clone()
            }
            Scratch::TempRoot => {
                let dir = temp_dir()?;
                params.insert("rootdirectory", dir.path().to_string_lossy().into_owned());
                guards.push(dir);
                self.registry.clone()
            }
            Scratch::Component {
                component,
                policy,
                temp_dirs,
            } => {
                let mut policy = SandboxPolicy::clone(policy);
                for guest in temp_dirs {
                    let dir = temp_dir()?;
                    policy.dirs.push(DirGrant {
                        host: dir.path().to_path_buf(),
                        guest: guest.clone(),
                        read_only: false,
                        quota: None,
                    });
                    guards.push(dir);
                }
                guest::registry_for(component.clone(), policy)?.0
            }
        };
        Ok((registry, params, guards))
    }
}

fn temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("wharf-check-")
        .tempdir()
        .context("cannot create a temporary directory")
}

async fn first_file(driver: &dyn StorageDriver) -> anyhow::Result<Option<String>> {
    let mut found = None;
    driver
        .walk("/", &WalkOptions::default(), &mut |info| {
            if info.is_dir {
                Ok(WalkControl::Continue)
            } else {
                found = Some(info.path.clone());
                Ok(WalkControl::Stop)
            }
        })
        .await?;
    Ok(found)
}

/// Deletes everything under the root (after a failure on shared storage).
pub async fn clear(driver: &dyn StorageDriver) {
    if let Ok(children) = driver.list("/").await {
        for child in children {
            let _ = driver.delete(&child).await;
        }
    }
}
