//! What a driver instance and its readers and writers share: the connection, the chunk size,
//! a budget of data bytes in flight, the request counters, and the process-wide log of recent
//! deletions the walk consults.
//!
//! The budget keeps the bytes of data requests in flight under librados' own throttle
//! (`objecter_inflight_op_bytes`, 100 MiB by default), which would otherwise block the thread
//! that submits; here a task waits instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::ffi::{Connection, OmapRead, RadosResult, WriteOp};
use wharf_runtime::deletion_log::DeletionLog;

/// Deletions each store's log keeps for walks (see [`wharf_runtime::deletion_log`]).
const DELETIONS_KEPT: usize = 4096;

/// Bytes of data requests in flight per driver instance.
const DATA_BUDGET: usize = 64 << 20;
/// The budget's unit.
const BUDGET_UNIT: usize = 1 << 10;

/// Counts of the requests a driver instance sent, for tests and tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// Omap reads: directory pages and entry look-ups.
    pub omap_reads: u64,
    /// Compound writes on directory objects (entry changes, creation, removal).
    pub dir_writes: u64,
    /// Data chunk reads.
    pub data_reads: u64,
    /// Data chunk writes.
    pub data_writes: u64,
    /// Data object removals.
    pub data_removes: u64,
}

#[derive(Default)]
struct Counters {
    omap_reads: AtomicU64,
    dir_writes: AtomicU64,
    data_reads: AtomicU64,
    data_writes: AtomicU64,
    data_removes: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The shared state of one driver instance.
pub(crate) struct Store {
    conn: Connection,
    /// The chunk size new content is striped with.
    pub chunk: u64,
    budget: Semaphore,
    counters: Counters,
    pub deletion_log: Arc<DeletionLog>,
}

impl Store {
    pub(crate) fn new(conn: Connection, chunk: u64, namespace: &str) -> Self {
        let deletion_log = DeletionLog::shared(
            &format!("rados|{}/{}/{namespace}", conn.fsid(), conn.pool_id()),
            DELETIONS_KEPT,
        );
        Store {
            conn,
            chunk,
            budget: Semaphore::new(DATA_BUDGET / BUDGET_UNIT),
            counters: Counters::default(),
            deletion_log,
        }
    }

    pub(crate) fn requests(&self) -> Requests {
        let c = &self.counters;
        Requests {
            omap_reads: c.omap_reads.load(Ordering::Relaxed),
            dir_writes: c.dir_writes.load(Ordering::Relaxed),
            data_reads: c.data_reads.load(Ordering::Relaxed),
            data_writes: c.data_writes.load(Ordering::Relaxed),
            data_removes: c.data_removes.load(Ordering::Relaxed),
        }
    }

    async fn reserve(&self, bytes: usize) -> Option<SemaphorePermit<'_>> {
        let units = bytes
            .div_ceil(BUDGET_UNIT)
            .clamp(1, DATA_BUDGET / BUDGET_UNIT);
        // The semaphore is never closed, so acquiring only waits.
        self.budget.acquire_many(units as u32).await.ok()
    }

    /// Reads `len` bytes of a data object from `offset` (fewer at its end).
    pub(crate) async fn read_data(
        &self,
        object: &str,
        offset: u64,
        len: usize,
    ) -> RadosResult<Bytes> {
        let _permit = self.reserve(len).await;
        bump(&self.counters.data_reads);
        self.conn.read(object, offset, len).await
    }

    /// Runs a write carrying `bytes` of data on a data object.
    pub(crate) async fn write_data(
        &self,
        object: &str,
        op: WriteOp,
        bytes: usize,
    ) -> RadosResult<()> {
        let _permit = self.reserve(bytes).await;
        bump(&self.counters.data_writes);
        self.conn.write(object, op).await.map(drop)
    }

    /// Removes a data object.
    pub(crate) async fn remove_data(&self, object: &str) -> RadosResult<()> {
        bump(&self.counters.data_removes);
        self.conn.remove(object).await
    }

    /// Runs a compound write on a directory object; its version afterwards.
    pub(crate) async fn write_dir(&self, object: &str, op: WriteOp) -> RadosResult<u64> {
        bump(&self.counters.dir_writes);
        self.conn.write(object, op).await
    }

    /// A page of a directory object's omap.
    pub(crate) async fn omap_page(
        &self,
        object: &str,
        after: &str,
        max: u64,
    ) -> RadosResult<OmapRead> {
        bump(&self.counters.omap_reads);
        self.conn.omap_page(object, after, max).await
    }

    /// The values of some keys of a directory object's omap.
    pub(crate) async fn omap_get(&self, object: &str, keys: &[&str]) -> RadosResult<OmapRead> {
        bump(&self.counters.omap_reads);
        self.conn.omap_get(object, keys).await
    }
}
