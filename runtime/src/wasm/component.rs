//! A loaded guest component: compiled, linked against the host (`InstancePre`, so creating an
//! instance is only allocation and initialisation), with the manifest it declared about itself
//! and the world it imports and exports (what `wharf inspect` shows).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::WitVersion;
use super::deadline::{self, Deadline};
pub use super::manifest::{Manifest, RequestedCapability};
use super::policy::SandboxPolicy;
use super::quota::GrantQuotas;
use super::reserve::{InstanceReserve, ReservedInstances};
use super::state::InstanceState;
use super::world::{World, WorldPre};
use super::{answer, fault};
use crate::error::{Error, ErrorKind, Result};

/// The newest WIT package version this host implements (it also loads every version in
/// [`WitVersion::ALL`]).
pub const WIT_VERSION: &str = "0.2.0";

/// How long `describe` may take when a component is loaded.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A compiled, linked component ready to instantiate.
pub struct GuestComponent {
    /// The engine it was compiled for, where its instances run.
    engine: Engine,
    /// Linked against the host once: an instance is only allocation and initialisation.
    pre: WorldPre,
    /// The engine's pool instances its drivers reserve theirs from.
    reserve: InstanceReserve,
    /// The version of the world the component exports.
    pub version: WitVersion,
    /// The manifest the guest exported.
    pub manifest: Manifest,
    /// Names of everything the component imports.
    pub imports: Vec<String>,
    /// Names of everything the component exports.
    pub exports: Vec<String>,
    /// SHA-256 of the component's bytes.
    pub digest: String,
    /// Where it came from (a path, or a bundled name).
    pub label: String,
    /// Bumped by every mutating call through any driver of this component, so a paged walk
    /// knows when the pages it holds may be stale.
    pub(crate) mutations: AtomicU64,
}

fn compatible(version: &str, with: WitVersion) -> bool {
    // Before 1.0, semver compatibility is same major and minor.
    let major_minor = |v: &str| {
        let mut parts = v.split('.');
        (
            parts.next().map(str::to_owned),
            parts.next().map(str::to_owned),
        )
    };
    major_minor(version) == major_minor(with.as_str())
}

impl GuestComponent {
    /// Links `component` (compiled for `engine`, its SHA-256 `digest`) with `linker`, and asks
    /// it for its manifest; `label` names it in messages.
    pub(crate) async fn new(
        engine: &Engine,
        linker: &Linker<InstanceState>,
        reserve: InstanceReserve,
        component: Component,
        digest: String,
        label: &str,
    ) -> Result<Arc<Self>> {
        let ty = component.component_type();
        let imports = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let version = WitVersion::of_exports(exports.iter().map(String::as_str)).ok_or_else(|| {
            let known: Vec<&str> = WitVersion::ALL.iter().map(|v| v.as_str()).collect();
            Error::invalid_parameter(
                "component",
                format!(
                    "{label} exports no wharf:storage/driver interface of a version this host loads ({})",
                    known.join(", ")
                ),
            )
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(|pre| WorldPre::new(version, pre))
            .map_err(|e| {
                Error::invalid_parameter(
                    "component",
                    format!("{label} does not fit the wharf:storage world this host offers: {e:#}"),
                )
            })?;
        let mut this = Self {
            engine: engine.clone(),
            pre,
            reserve,
            version,
            manifest: Manifest {
                name: String::new(),
                wit_version: String::new(),
                stateful: true,
                requested: Vec::new(),
            },
            imports,
            exports,
            digest,
            label: label.to_owned(),
            mutations: AtomicU64::new(0),
        };
        this.manifest = this.describe().await?;
        if !compatible(&this.manifest.wit_version, version) {
            return Err(Error::invalid_parameter(
                "component",
                format!(
                    "{label} exports wharf:storage@{} but its manifest says {}",
                    version.as_str(),
                    this.manifest.wit_version
                ),
            ));
        }
        Ok(Arc::new(this))
    }

    /// Reserves `count` of the engine's pool instances for `driver`, or says why not.
    pub(crate) fn reserve(&self, driver: &str, count: u32, why: &str) -> Result<ReservedInstances> {
        self.reserve.reserve(driver, count, why)
    }

    async fn describe(&self) -> Result<Manifest> {
        let policy = SandboxPolicy {
            call_timeout: DESCRIBE_TIMEOUT,
            ..SandboxPolicy::default()
        };
        let _reserved = self.reserve(&self.label, 1, "one, to describe the component")?;
        let (mut store, world) = self
            .instantiate("describe", &policy, &GrantQuotas::from([]))
            .await?;
        // Under what is left of the instantiation's deadline.
        let deadline = Deadline::current(&store);
        let what = format!("{}: describe", self.label);
        let info = deadline
            .run(world.describe(&mut store))
            .await
            .map_err(|e| fault::describe(&what, &e, &policy, Some(store.data())))?;
        answer::manifest(info).map_err(|broken| {
            Error::new(ErrorKind::DriverFault).with_detail(format!(
                "{}: describe broke the contract: {broken}",
                self.label
            ))
        })
    }

    /// A fresh instance in a store sandboxed by `policy`. Instantiation runs guest code (start
    /// functions, the language runtime's initialisation), so it runs under the policy's call
    /// deadline like a call; its failures are described like a call's (`Timeout`, the memory
    /// limit, a trap).
    pub(crate) async fn instantiate(
        &self,
        driver: &str,
        policy: &SandboxPolicy,
        quotas: &GrantQuotas,
    ) -> Result<(Store<InstanceState>, World)> {
        let state = InstanceState::new(driver, policy, quotas.clone())?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(usize::try_from(policy.answers.bytes).unwrap_or(usize::MAX));
        deadline::arm(&mut store);
        let deadline = Deadline::start(&mut store, policy.call_timeout);
        match deadline.run(self.pre.instantiate(&mut store)).await {
            Ok(world) => Ok((store, world)),
            Err(e) => {
                let what = format!("instantiate {}", self.label);
                Err(fault::describe(&what, &e, policy, Some(store.data())))
            }
        }
    }
}
