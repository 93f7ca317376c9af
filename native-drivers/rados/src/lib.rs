//! Wharf's native Ceph RADOS driver, registered as `rados`: files striped over RADOS objects of
//! `chunksize`, the tree kept in omap objects (one per directory), uploads whose state lives in
//! the cluster, all through the system's librados (Ceph 16 and later).
//!
//! The crate binds librados itself (`ffi`: declarations, a safe connection type, and futures
//! over AIO completions); it is the only Wharf crate with `unsafe` code, all of it in `ffi`.
//! The rest is safe: `layout` (object names and omap values), `dir` (entries changed by
//! compare-and-swap, directories linked and pruned), `data` (striped content), `content`
//! (`get_content`, `put_content` and the entry switch), `reader`, `writer`, `list` (and
//! `stat`), `walk` (skipping what the store's deletion log names), `rename`, `delete`, `error`
//! (librados failures as Wharf errors) and `config`. README.md describes the layout on the cluster, the
//! order of steps that keeps it consistent, the parameters and the limits.
//!
//! Linking needs librados (Debian: `librados-dev`); type-checking (`cargo check`, `cargo
//! clippy`) does not. The `wharf` crate builds this driver behind its `rados` feature.

#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod config;
mod content;
mod data;
mod delete;
mod dir;
mod error;
#[allow(unsafe_code)]
mod ffi;
mod layout;
mod list;
mod reader;
mod rename;
mod store;
mod walk;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wharf_runtime::{
    ByteStream, DriverRegistry, Error, FileInfo, FileWriter, Params, Result, StorageDriver,
    Visitor, WalkOptions,
};

pub use config::{
    CHUNK_SIZE, CONF_FILE, Config, DEFAULT_CHUNK_SIZE, KEYRING, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
    NAMESPACE, POOL_NAME, USER_NAME,
};
pub use store::Requests;

use crate::ffi::{ConnectOptions, Connection};
use crate::store::Store;

/// The name this driver registers under.
pub const NAME: &str = "rados";

/// The deadline of each request to the cluster (unless the ceph.conf sets one).
const OP_TIMEOUT: Duration = Duration::from_secs(60);
/// The deadline for reaching the monitors (unless the ceph.conf sets one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers the rados driver under [`NAME`].
pub fn register(registry: &mut DriverRegistry) -> Result<()> {
    registry.register(NAME, |params: Params| async move {
        let config = Config::from_params(params)?;
        Ok(Arc::new(RadosDriver::connect(config).await?) as Arc<dyn StorageDriver>)
    })
}

/// The rados driver: one connection to the cluster, on one pool and namespace.
pub struct RadosDriver {
    store: Arc<Store>,
    config: Config,
}

impl std::fmt::Debug for RadosDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadosDriver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RadosDriver {
    /// Connects to the cluster and opens the pool (the pool must exist).
    pub async fn connect(config: Config) -> Result<Self> {
        let owned = config.clone();
        let conn = tokio::task::spawn_blocking(move || {
            let config = owned;
            Connection::connect(&ConnectOptions {
                user: config.user.as_deref(),
                conffile: config.conf_file.as_deref(),
                keyring: config.keyring.as_deref(),
                pool: &config.pool,
                namespace: &config.namespace,
                op_timeout: OP_TIMEOUT,
                connect_timeout: CONNECT_TIMEOUT,
            })
        })
        .await
        .map_err(|e| Error::backend("connecting to the cluster failed").with_source(e))?
        .map_err(|e| {
            let conf_file = config.conf_file.as_ref().map(|p| p.display().to_string());
            error::from_connect(e, &config.pool, conf_file.as_deref()).with_driver(NAME)
        })?;
        tracing::debug!(pool = %config.pool, namespace = %config.namespace,
            chunk_size = config.chunk_size, "rados driver connected");
        Ok(RadosDriver {
            store: Arc::new(Store::new(conn, config.chunk_size, &config.namespace)),
            config,
        })
    }

    /// The configuration the driver was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many requests of each kind this instance has sent so far.
    pub fn requests(&self) -> Requests {
        self.store.requests()
    }
}

#[async_trait]
impl StorageDriver for RadosDriver {
    fn name(&self) -> &str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        self.store.get_content(path).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.store.put_content(path, content).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        reader::reader(self.store.clone(), path, offset).await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let writer = writer::open(self.store.clone(), path, append).await?;
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.store.stat(path).await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.store.list(path).await
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        self.store.rename(source, dest).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.store.delete(path).await
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        self.store.walk(path, options, visitor).await
    }
}
