//! Host bindings of both versions of the `storage-driver` world the host loads: `v1`
//! (`wit/0.1.0/storage.wit`, chunks only) and `v2` (`wit/storage.wit`, host-side streams). Guest
//! exports are called asynchronously (on a fiber), so a guest that runs long yields to the async
//! runtime at every epoch tick instead of blocking a worker thread.
//!
//! The `types` interface is the same in both versions, so `v2` reuses `v1`'s Rust types for it
//! (the component model checks records and variants by structure): errors, file records and
//! parameters need no conversion. `world.rs` hides the version from the rest of the host.

/// `wharf:storage@0.1.0`.
#[allow(missing_docs)] // generated from the WIT, whose comments document it
pub mod v1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "storage-driver",
        exports: { default: async },
    });
}

/// `wharf:storage@0.2.0`.
#[allow(missing_docs)] // generated from the WIT, whose comments document it
pub mod v2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "storage-driver",
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wharf:storage/types": super::v1::wharf::storage::types,
        },
    });
}

pub use v1::exports::wharf::storage::driver::{Error as GuestError, ResumePoint, WalkPage};
pub use v1::exports::wharf::storage::manifest::{Capability, Info};
pub use v1::wharf::storage::host_log::Level;
pub use v1::wharf::storage::types::{Datetime, FileInfo as GuestFileInfo, Param, RedirectMethod};
pub use v2::exports::wharf::storage::driver::PartKind;

/// Adds the `types` instances of both worlds to `linker`: `types` holds only types, so its
/// instances are empty (the worlds' one host interface, `host-log`, is `guest_log.rs`'s).
pub(crate) fn add_types_to_linker<T>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    for version in WitVersion::ALL {
        linker.instance(&format!("wharf:storage/types@{}", version.as_str()))?;
    }
    Ok(())
}

/// A WIT version the host implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitVersion {
    /// `wharf:storage@0.1.0`: bytes cross as chunks through the guest's memory.
    V1,
    /// `wharf:storage@0.2.0`: readers and writers may hand the host streams.
    V2,
}

impl WitVersion {
    /// Every version, newest first.
    pub const ALL: [WitVersion; 2] = [WitVersion::V2, WitVersion::V1];

    /// The package version, as a manifest reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V1 => "0.1.0",
            WitVersion::V2 => "0.2.0",
        }
    }

    /// The WIT files of this version, as (path, text), paths relative to the root of the tree
    /// that holds every version: the newest package at the root, its dependencies in `deps/`,
    /// older versions in a folder named after their version (as in the repository's `wit/`,
    /// and as `wharf wit` writes it). The texts are the ones the host was built from.
    pub fn wit_files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            WitVersion::V1 => &[(
                "0.1.0/storage.wit",
                include_str!("../../../wit/0.1.0/storage.wit"),
            )],
            WitVersion::V2 => &[
                ("storage.wit", include_str!("../../../wit/storage.wit")),
                ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
            ],
        }
    }

    /// The version whose `driver` interface a component exporting `exports` implements.
    pub fn of_exports<'a>(exports: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let exports: Vec<&str> = exports.into_iter().collect();
        Self::ALL.into_iter().find(|v| {
            let name = format!("wharf:storage/driver@{}", v.as_str());
            exports.contains(&name.as_str())
        })
    }
}
