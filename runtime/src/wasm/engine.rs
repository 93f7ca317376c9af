//! One wasmtime engine per runtime: the pooling allocator (instances come from preallocated
//! slots, so a fresh instance costs microseconds), epoch interruption (a 10 ms ticker thread;
//! guests yield at each tick and are interrupted at their deadline), the linker with everything
//! a sandbox may grant, and the compiled-component cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::StorageDriver as World;
use super::cache::{self, ComponentCache};
use super::component::GuestComponent;
use super::state::State;
use crate::error::{Error, Result};

/// How often the epoch advances: the granularity of deadlines and of cooperative yields.
pub const TICK: Duration = Duration::from_millis(10);

/// Engine-wide caps of the pooling allocator.
const MAX_INSTANCES: u32 = 1000;

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
    linker: Linker<State>,
    cache: ComponentCache,
}

fn host_error(what: &str, e: wasmtime::Error) -> Error {
    Error::backend(format!("{what}: {e:#}"))
}

impl GuestRuntime {
    /// A runtime with its own engine and ticker thread.
    pub fn new(options: RuntimeOptions) -> Result<Arc<Self>> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES * 4)
            .total_memories(MAX_INSTANCES)
            .total_tables(MAX_INSTANCES * 4)
            .total_stacks(MAX_INSTANCES)
            .max_memory_size(super::policy::MAX_MEMORY as usize)
            .max_tables_per_module(4)
            .table_elements(100_000);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .max_wasm_stack(512 << 10)
            .async_stack_size(2 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| host_error("cannot create the engine", e))?;

        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| host_error("cannot link WASI", e))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| host_error("cannot link WASI HTTP", e))?;
        World::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| host_error("cannot link the storage world", e))?;

        let dir = if options.no_cache {
            None
        } else {
            options.cache_dir.or_else(cache::default_dir)
        };
        let cache = ComponentCache::new(&engine, dir);

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wharf-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|e| Error::backend("cannot start the epoch ticker").with_source(e))?;
        Ok(Arc::new(Self {
            engine,
            linker,
            cache,
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

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<State> {
        &self.linker
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
        let (component, digest) =
            tokio::task::spawn_blocking(move || rt.cache.load(&rt.engine, &wasm))
                .await
                .map_err(|e| Error::backend("component compilation failed").with_source(e))??;
        GuestComponent::new(self.clone(), component, digest, label).await
    }
}
