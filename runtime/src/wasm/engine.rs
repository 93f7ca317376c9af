//! One wasmtime engine per runtime: the pooling allocator (instances come from preallocated
//! slots, so a fresh instance costs microseconds), epoch interruption (a 10 ms ticker thread;
//! guests yield at each tick and are interrupted at their deadline), the linker with everything
//! a sandbox may grant, and the compiled-component cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::{self, ComponentCache};
use super::component::GuestComponent;
use super::reserve::InstanceReserve;
use super::state::InstanceState;
use crate::error::{Error, Result};

/// Component instances the engine's pool holds, shared out among guest drivers (see
/// `reserve.rs`).
pub const POOL_INSTANCES: u32 = 1000;
/// What one component instance may hold: enough for every guest toolchain in use (a Rust
/// guest has one memory and one or two core instances; a componentize-js guest a few more), so
/// that no instance can take the pool's memories, tables or core instances from the others.
pub const MEMORIES_PER_INSTANCE: u32 = 4;
/// Tables one component instance may hold.
pub const TABLES_PER_INSTANCE: u32 = 8;
/// Core (module) instances one component instance may hold.
pub const CORE_INSTANCES_PER_INSTANCE: u32 = 16;
/// Elements one table may have.
const TABLE_ELEMENTS: usize = 100_000;

/// Settings of a [`GuestRuntime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled components are cached (`None`: the default directory; see
    /// [`cache::default_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Compile every time, never touching the disk cache.
    pub no_cache: bool,
}

/// The component host: engine, linker and cache, shared by every guest driver.
pub struct GuestRuntime {
    engine: Engine,
    linker: Linker<InstanceState>,
    cache: ComponentCache,
    /// The engine's pool instances not reserved by a driver; each component shares it.
    reserve: InstanceReserve,
}

fn host_error(what: &str, e: wasmtime::Error) -> Error {
    Error::backend(format!("{what}: {e:#}"))
}

impl GuestRuntime {
    /// A runtime with its own engine and ticker thread.
    pub fn new(options: RuntimeOptions) -> Result<Arc<Self>> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_INSTANCES)
            .max_core_instances_per_component(CORE_INSTANCES_PER_INSTANCE)
            .max_memories_per_component(MEMORIES_PER_INSTANCE)
            .max_tables_per_component(TABLES_PER_INSTANCE)
            .total_core_instances(POOL_INSTANCES * CORE_INSTANCES_PER_INSTANCE)
            .total_memories(POOL_INSTANCES * MEMORIES_PER_INSTANCE)
            .total_tables(POOL_INSTANCES * TABLES_PER_INSTANCE)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(super::policy::MAX_MEMORY as usize)
            .max_memories_per_module(MEMORIES_PER_INSTANCE)
            .max_tables_per_module(TABLES_PER_INSTANCE)
            .table_elements(TABLE_ELEMENTS);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .max_wasm_stack(512 << 10)
            .async_stack_size(2 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| host_error("cannot create the engine", e))?;

        let mut linker: Linker<InstanceState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| host_error("cannot link WASI", e))?;
        super::http::add_to_linker(&mut linker, InstanceState::http)
            .map_err(|e| host_error("cannot link WASI HTTP", e))?;
        super::files::add_to_linker(&mut linker, InstanceState::files)
            .map_err(|e| host_error("cannot link the checked filesystem functions", e))?;
        super::guest_log::add_to_linker(&mut linker, InstanceState::log)
            .and_then(|()| super::bindings::add_types_to_linker(&mut linker))
            .map_err(|e| host_error("cannot link the storage worlds", e))?;

        let dir = if options.no_cache {
            None
        } else {
            options.cache_dir.or_else(cache::default_dir)
        };
        let cache = ComponentCache::new(&engine, dir);

        super::deadline::start_ticker(&engine)?;
        Ok(Arc::new(Self {
            engine,
            linker,
            cache,
            reserve: InstanceReserve::new(POOL_INSTANCES),
        }))
    }

    /// The process-wide runtime (default options), created on first use.
    pub fn global() -> Result<Arc<Self>> {
        static GLOBAL: OnceLock<Arc<GuestRuntime>> = OnceLock::new();
        if let Some(rt) = GLOBAL.get() {
            return Ok(rt.clone());
        }
        let rt = Self::new(RuntimeOptions::default())?;
        Ok(GLOBAL.get_or_init(|| rt).clone())
    }

    /// Pool instances not reserved by any driver now.
    pub fn unreserved_instances(&self) -> u32 {
        self.reserve.unreserved()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads (compiling or taking from the cache) the component in `path`.
    pub async fn load_file(self: &Arc<Self>, path: &Path) -> Result<Arc<GuestComponent>> {
        let wasm = tokio::fs::read(path).await.map_err(|e| {
            Error::invalid_parameter("component", format!("cannot read {}", path.display()))
                .with_source(e)
        })?;
        self.load_bytes(wasm, &path.display().to_string()).await
    }

    /// Loads a component from its bytes; `label` names it in messages.
    pub async fn load_bytes(
        self: &Arc<Self>,
        wasm: Vec<u8>,
        label: &str,
    ) -> Result<Arc<GuestComponent>> {
        let rt = self.clone();
        let named = label.to_owned();
        let (component, digest) =
            tokio::task::spawn_blocking(move || rt.cache.load(&rt.engine, &wasm, &named))
                .await
                .map_err(|e| Error::backend("component compilation failed").with_source(e))??;
        let reserve = self.reserve.clone();
        GuestComponent::new(
            &self.engine,
            &self.linker,
            reserve,
            component,
            digest,
            label,
        )
        .await
    }
}
