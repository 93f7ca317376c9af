//! What the host keeps per guest instance (the wasmtime store's data): the WASI context built
//! from the policy, the resource table, the memory limiter, the current call's deadline, and the
//! rate limiter for guest log lines.

use std::collections::HashMap;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{self, Level};
use super::http::HttpAllowList;
use super::policy::SandboxPolicy;
use super::quota::GrantQuotas;
use crate::error::{Error, Result};

/// Longest guest log line kept; the rest is cut.
const MAX_LOG_LINE: usize = 4096;
/// Bytes one `wasi:http` fields resource (a request's or response's headers) may hold in the
/// host; going over it traps.
const MAX_FIELDS_SIZE: usize = 64 << 10;

/// Host resources (files, streams, pollables, HTTP fields and requests) one instance may hold at
/// once. What they hold lives in the host's memory, beyond the guest's limit, and some are free
/// to make (header fields need no grant), so their number scales with that limit: the fields
/// they can hold stay about as large as the guest's own memory, never under 1024 resources.
fn max_host_resources(memory_limit: u64) -> usize {
    let n = memory_limit / MAX_FIELDS_SIZE as u64;
    usize::try_from(n.clamp(1024, 1 << 16)).unwrap_or(1 << 16)
}

/// Log lines a guest may emit per second on average, and in a burst.
const LOG_RATE: f64 = 50.0;
const LOG_BURST: f64 = 200.0;

/// The store data of one guest instance.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: HttpAllowList,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// When the step running in the instance must end (checked at every epoch tick; see
    /// `deadline.rs`).
    pub deadline: Instant,
    /// Set while a call is inside the instance; an instance found with it set was left
    /// mid-call (its caller's future was dropped with no runtime to finish it) and is discarded.
    pub in_call: bool,
    /// True when the guest's file operations block the thread running it.
    pub blocking: bool,
    log: LogLimiter,
    driver: String,
    /// Descriptors and streams the instance may hold at once (see `files.rs`).
    pub max_open_files: usize,
    /// The disk quotas of the directory grants, in the policy's order.
    pub quotas: GrantQuotas,
    /// Guest paths of the directory grants, in the policy's order.
    pub grant_paths: Vec<String>,
    /// Which grant each live descriptor (by resource number) is under.
    pub grant_of: HashMap<u32, usize>,
}

impl State {
    /// A sandbox that grants exactly what `policy` says, counting writes against `quotas` (one
    /// per directory grant, or none at all).
    pub fn new(driver: &str, policy: &SandboxPolicy, quotas: GrantQuotas) -> Result<Self> {
        let mut b = WasiCtxBuilder::new();
        for (k, v) in &policy.env {
            b.env(k, v);
        }
        // A guest with a directory does its file operations on the thread running it rather
        // than handing each to tokio's blocking pool and back (a hand-off per WASI call costs
        // more than the syscall); its calls then run in `block_in_place` (see `deadline::Deadline::run`),
        // as the native filesystem driver's do.
        let blocking = policy.blocks_on_files();
        // Set before the preopens: each takes the setting when it is made.
        b.allow_blocking_current_thread(blocking);
        for (i, grant) in policy.dirs.iter().enumerate() {
            if policy.dirs[..i].iter().any(|g| g.guest == grant.guest) {
                return Err(Error::invalid_parameter(
                    "dirs",
                    format!("two directories granted at the guest path {}", grant.guest),
                ));
            }
            let perms = if grant.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            b.preopened_dir(&grant.host, &grant.guest, perms)
                .map_err(|e| {
                    Error::invalid_parameter(
                        "dirs",
                        format!("cannot open {} for the guest: {e:#}", grant.host.display()),
                    )
                })?;
        }
        // Sockets stay closed: outbound traffic only through the HTTP allow-list.
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_SIZE);
        let mut table = ResourceTable::new();
        table.set_max_capacity(max_host_resources(policy.memory_limit));
        Ok(Self {
            wasi: b.build(),
            http,
            hooks: HttpAllowList::new(&policy.http_hosts, policy.http_requests)?,
            table,
            limiter: MemoryLimiter::new(policy.memory_limit),
            deadline: Instant::now() + policy.call_timeout,
            in_call: false,
            blocking,
            log: LogLimiter::default(),
            driver: driver.to_owned(),
            max_open_files: policy.open_files,
            quotas,
            grant_paths: policy.dirs.iter().map(|g| g.guest.clone()).collect(),
            grant_of: HashMap::new(),
        })
    }
}

impl State {
    /// The instance's host resources.
    /// Takes an input stream the guest handed over out of the instance's table: the host owns
    /// it from now on. Fails (a trap) for a handle the table does not hold.
    pub(crate) fn take_input(
        &mut self,
        stream: wasmtime::component::Resource<wasmtime_wasi::p2::DynInputStream>,
    ) -> wasmtime::Result<wasmtime_wasi::p2::DynInputStream> {
        Ok(self.table.delete(stream)?)
    }

    /// Takes an output stream the guest handed over out of the instance's table.
    pub(crate) fn take_output(
        &mut self,
        stream: wasmtime::component::Resource<wasmtime_wasi::p2::DynOutputStream>,
    ) -> wasmtime::Result<wasmtime_wasi::p2::DynOutputStream> {
        Ok(self.table.delete(stream)?)
    }

    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl bindings::v1::wharf::storage::types::Host for State {}

impl bindings::v2::wharf::storage::host_log::Host for State {
    fn log(&mut self, level: bindings::v2::wharf::storage::host_log::Level, message: String) {
        use bindings::v2::wharf::storage::host_log::Level as L2;
        let level = match level {
            L2::Trace => Level::Trace,
            L2::Debug => Level::Debug,
            L2::Info => Level::Info,
            L2::Warn => Level::Warn,
            L2::Error => Level::Error,
        };
        bindings::v1::wharf::storage::host_log::Host::log(self, level, message);
    }
}

impl bindings::v1::wharf::storage::host_log::Host for State {
    fn log(&mut self, level: Level, message: String) {
        if !self.log.admit() {
            return;
        }
        // Cut, and control characters escaped: a guest must not forge log lines or drive
        // the operator's terminal.
        let message = super::answer::clean_text_within(&message, MAX_LOG_LINE);
        let driver = self.driver.as_str();
        let dropped = std::mem::take(&mut self.log.dropped);
        if dropped > 0 {
            tracing::warn!(target: "wharf::guest", driver, dropped, "guest log lines dropped by the rate limit");
        }
        match level {
            Level::Trace => tracing::trace!(target: "wharf::guest", driver, "{message}"),
            Level::Debug => tracing::debug!(target: "wharf::guest", driver, "{message}"),
            Level::Info => tracing::info!(target: "wharf::guest", driver, "{message}"),
            Level::Warn => tracing::warn!(target: "wharf::guest", driver, "{message}"),
            Level::Error => tracing::error!(target: "wharf::guest", driver, "{message}"),
        }
    }
}

/// A token bucket for guest log lines.
struct LogLimiter {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self {
            tokens: LOG_BURST,
            last: Instant::now(),
            dropped: 0,
        }
    }
}

impl LogLimiter {
    fn admit(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * LOG_RATE;
        self.tokens = (self.tokens + refill).min(LOG_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

/// Refuses growth of the instance's memories and tables past the policy's limit, counted over
/// the whole instance (a component may hold many memories and tables; each one's creation and
/// growth is added up), and remembers that it did, so the fault that usually follows (the
/// guest's allocator aborting) is reported as what it is.
pub struct MemoryLimiter {
    limit: u64,
    /// Bytes of linear memory and table storage the instance holds now.
    used: u64,
    /// Set when the guest asked for more memory than allowed.
    pub exceeded: bool,
}

/// What one table element costs the host, counted against the memory limit (a function
/// reference in wasmtime's tables).
const TABLE_ELEMENT_BYTES: u64 = 8;

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            used: 0,
            exceeded: false,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `current → desired` bytes of growth if the whole instance stays within the limit.
    fn grow(&mut self, current: u64, desired: u64) -> bool {
        let more = desired.saturating_sub(current);
        match self.used.checked_add(more) {
            Some(total) if total <= self.limit => {
                self.used = total;
                true
            }
            _ => {
                self.exceeded = true;
                false
            }
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current as u64, desired as u64))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |n: usize| (n as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(self.grow(bytes(current), bytes(desired)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_bounds_bursts() {
        let mut l = LogLimiter::default();
        let admitted = (0..10_000).filter(|_| l.admit()).count();
        assert!(admitted >= LOG_BURST as usize && admitted < LOG_BURST as usize + 50);
        assert!(l.dropped > 9_000);
    }

    #[test]
    fn limiter_refuses_and_remembers() {
        let mut m = MemoryLimiter::new(1 << 20);
        assert!(m.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!m.exceeded);
        assert!(!m.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(m.exceeded);
    }

    #[test]
    fn limiter_counts_every_memory_and_table_of_the_instance() {
        let mut m = MemoryLimiter::new(4 << 20);
        // Three memories of 1 MiB each fit; a fourth of 1 MiB does not once tables take some.
        for _ in 0..3 {
            assert!(m.memory_growing(0, 1 << 20, None).unwrap());
        }
        assert!(m.table_growing(0, 1000, None).unwrap());
        assert!(!m.memory_growing(0, 1 << 20, None).unwrap());
        assert!(m.exceeded);
        // Growing one of them by what is left still works.
        let left = (4 << 20) - (3 << 20) - 1000 * TABLE_ELEMENT_BYTES as usize;
        assert!(m.memory_growing(1 << 20, (1 << 20) + left, None).unwrap());
        assert!(!m.table_growing(1000, 1001, None).unwrap());
    }
}
