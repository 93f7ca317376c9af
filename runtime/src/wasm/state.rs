//! What the host keeps per guest instance (the wasmtime store's data): the instance's resource
//! table, and one narrow context per host interface — wasmtime-wasi's (built from the policy),
//! wasi-http's with the allow-list, the checked filesystem functions' (`files.rs`) and
//! `host-log`'s (`guest_log.rs`) — each linked with a getter that hands it only its own
//! context; then what the host itself follows of the instance: the memory limiter, the deadline
//! of the step running in it, and whether a call is inside it.

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView};

use super::files::{FilesCtx, FilesCtxView};
use super::guest_log::LogCtx;
use super::guest_output::GuestOutput;
use super::http::HttpAllowList;
use super::memory::MemoryLimiter;
use super::policy::SandboxPolicy;
use super::quota::GrantQuotas;
use crate::error::{Error, Result};

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

/// The store data of one guest instance.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_allow_list: HttpAllowList,
    files: FilesCtx,
    log: LogCtx,
    /// The tail of what the guest wrote on stdout and stderr, quoted when it traps.
    pub(crate) output: GuestOutput,
    pub limiter: MemoryLimiter,
    /// When the step running in the instance must end (checked at every epoch tick; see
    /// `deadline.rs`).
    pub deadline: Instant,
    /// Set while a call is inside the instance; an instance found with it set was left
    /// mid-call (its caller's future was dropped with no runtime to finish it) and is discarded.
    pub in_call: bool,
    /// True when the guest's file operations block the thread running it.
    pub blocking: bool,
}

impl InstanceState {
    /// A sandbox that grants exactly what `policy` says, counting writes against `quotas` (one
    /// per directory grant, or none at all).
    pub fn new(driver: &str, policy: &SandboxPolicy, quotas: GrantQuotas) -> Result<Self> {
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_SIZE);
        let mut table = ResourceTable::new();
        table.set_max_capacity(max_host_resources(policy.memory_limit));
        let output = GuestOutput::default();
        Ok(Self {
            table,
            wasi: wasi_ctx(policy, &output)?,
            http,
            http_allow_list: HttpAllowList::new(&policy.http_hosts, policy.http_requests)?,
            files: FilesCtx::new(policy, quotas),
            log: LogCtx::new(driver),
            output,
            limiter: MemoryLimiter::new(policy.memory_limit),
            deadline: super::deadline::after(policy.call_timeout),
            in_call: false,
            blocking: policy.blocks_on_files(),
        })
    }

    /// The instance's resource table (the streams a guest hands over are taken out of it).
    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The context of `host-log`.
    pub(crate) fn log(&mut self) -> &mut LogCtx {
        &mut self.log
    }

    /// The context of the checked filesystem functions.
    pub(crate) fn files(&mut self) -> FilesCtxView<'_> {
        FilesCtxView {
            files: &mut self.files,
            fs: WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
        }
    }

    /// The context of `wasi:http`, with the allow-list as its hooks.
    pub(crate) fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_allow_list,
        }
    }
}

/// The WASI context of `policy`: its environment and directories, sockets closed, stdout and
/// stderr into `output`.
fn wasi_ctx(policy: &SandboxPolicy, output: &GuestOutput) -> Result<WasiCtx> {
    let mut b = WasiCtxBuilder::new();
    b.stdout(output.clone()).stderr(output.clone());
    for (k, v) in &policy.env {
        b.env(k, v);
    }
    // A guest with a directory does its file operations on the thread running it rather than
    // handing each to tokio's blocking pool and back (a hand-off per WASI call costs more than
    // the syscall); its calls then run in `block_in_place` (see `deadline::Deadline::run`), as
    // the native filesystem driver's do. Set before the preopens: each takes the setting when
    // it is made.
    b.allow_blocking_current_thread(policy.blocks_on_files());
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
    Ok(b.build())
}

/// wasmtime-wasi's interfaces see its context and the resource table.
impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
