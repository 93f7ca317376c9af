//! Host bindings generated from `wit/storage.wit` (world `storage-driver`). Guest exports are
//! called asynchronously (on a fiber), so a guest that runs long yields to the async runtime at
//! every epoch tick instead of blocking a worker thread.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "storage-driver",
    exports: { default: async },
});

pub use exports::wharf::storage::driver::{Error as GuestError, ResumePoint, WalkPage};
pub use exports::wharf::storage::manifest::{Capability, Info};
pub use wharf::storage::host_log::Level;
pub use wharf::storage::types::{Datetime, FileInfo as GuestFileInfo, Param, RedirectMethod};
